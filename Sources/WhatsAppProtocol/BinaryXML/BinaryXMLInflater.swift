import CZlib

/// zlib (RFC 1950) inflation of compressed frame payloads, with a hard bound on the output size so a
/// small hostile frame cannot expand into gigabytes.
enum BinaryXMLInflater {
    private static let chunkSize = 64 * 1024

    static func inflate(_ input: ArraySlice<UInt8>, maxOutput: Int) throws(BinaryXMLError) -> [UInt8] {
        guard input.count <= Int(UInt32.max) else { throw BinaryXMLError(.decompressionFailed) }
        var stream = z_stream()
        guard CZlib_inflateInit(&stream) == Z_OK else { throw BinaryXMLError(.decompressionFailed) }
        defer { inflateEnd(&stream) }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        let outcome: BinaryXMLError.Code? = input.withUnsafeBufferPointer { source in
            // zlib only reads through next_in; the pointer is mutable only in its C declaration.
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = UInt32(source.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunkSize - Int(stream.avail_out)
                guard produced <= maxOutput - output.count else { return .decompressedTooLarge }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    return nil
                case Z_OK where produced > 0 || stream.avail_in > 0:
                    continue
                default:
                    // Z_OK or Z_BUF_ERROR without progress: the stream ended early. Anything else is corrupt.
                    return .decompressionFailed
                }
            }
        }
        if let outcome { throw BinaryXMLError(outcome) }
        return output
    }
}
