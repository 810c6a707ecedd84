import CZlib
import Testing

@testable import WhatsAppProtocol

/// The frame payload wrapper: flags byte, optional zlib (flag 0x02).
@Suite struct BinaryXMLFrameTests {
    /// Flags 0x02 + Python's `zlib.compress(ping, 9)` of the `ping` vector's node bytes.
    static let compressedPing = "0278dafbc125c9112ac8cca22916fe83f10763180022ed046f"
    /// Flags 0x02 + Python's `zlib.compress(..., 9)` of `f8 02 1d fd 01 86 a0` + 100000 zero bytes:
    /// `<enc>` (token 29) holding BINARY_20 of 100000 bytes, more than one inflate chunk.
    static let compressedBigEnc =
        "0278daedc1310d00300800b0311fb33b1dc8e421c10647dbbaafe3e701000000000000000000000000000000000000000000"
        + "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        + "00000000000000000000000000000000000000000000000000d61ac490033c"

    static func vector(_ name: String) throws -> (node: BinaryNode, encoded: [UInt8]) {
        let cases = try #require(try OrderedJSON.file("wabinary.json").array)
        let vector = try #require(cases.first { $0["name"]?.string == name })
        return (
            try VectorNodes.node(from: try #require(vector["node"])),
            try unhex(try #require(vector["encoded_hex"]?.string))
        )
    }

    @Test func compressedFrameInflates() throws {
        let ping = try Self.vector("ping")
        #expect(try BinaryXML.decodeFrame(try unhex(Self.compressedPing)) == ping.node)
    }

    @Test func largeCompressedFrameInflatesAcrossChunks() throws {
        let node = try BinaryXML.decodeFrame(try unhex(Self.compressedBigEnc))
        #expect(node.tag == "enc")
        #expect(node.attributes.isEmpty)
        #expect(node.contentBytes == [UInt8](repeating: 0, count: 100_000))
    }

    @Test func inflatedSizeIsBounded() throws {
        let frame = try unhex(Self.compressedBigEnc)
        // The node is 100007 bytes once inflated.
        #expect(throws: BinaryXMLError(.decompressedTooLarge)) {
            try BinaryXML.decodeFrame(frame, maxInflatedSize: 100_006)
        }
        #expect(try BinaryXML.decodeFrame(frame, maxInflatedSize: 100_007).tag == "enc")
    }

    /// 17 MiB of zeros compress to about 17 KB; the default bound (16 MiB) must stop it.
    @Test func zipBombHitsDefaultBound() throws {
        let bomb = Self.deflate([UInt8](repeating: 0, count: 17 << 20))
        #expect(bomb.count < 100_000)
        #expect(throws: BinaryXMLError(.decompressedTooLarge)) {
            try BinaryXML.decodeFrame([0x02] + bomb)
        }
    }

    @Test func brokenCompressedPayloadsAreRejected() throws {
        let good = try unhex(Self.compressedPing)
        #expect(throws: BinaryXMLError(.decompressionFailed)) { try BinaryXML.decodeFrame([0x02]) }
        #expect(throws: BinaryXMLError(.decompressionFailed)) { try BinaryXML.decodeFrame(Array(good.dropLast(6))) }
        var corrupt = good
        corrupt[1] ^= 0xFF  // zlib header
        #expect(throws: BinaryXMLError(.decompressionFailed)) { try BinaryXML.decodeFrame(corrupt) }
        var badChecksum = good
        badChecksum[badChecksum.count - 1] ^= 0x01
        #expect(throws: BinaryXMLError(.decompressionFailed)) { try BinaryXML.decodeFrame(badChecksum) }
    }

    @Test func emptyFrameIsRejected() {
        #expect(throws: BinaryXMLError(.emptyFrame)) { try BinaryXML.decodeFrame([]) }
        #expect(throws: BinaryXMLError(.truncated, offset: 0)) { try BinaryXML.decodeFrame([0x00]) }
    }

    @Test func uncompressedFlagsOtherThanBitTwoAreIgnored() throws {
        let ping = try Self.vector("ping")
        var frame = ping.encoded
        frame[0] = 0x01
        #expect(try BinaryXML.decodeFrame(frame) == ping.node)
    }

    @Test func encodeFrameStartsWithZeroFlags() throws {
        let ping = try Self.vector("ping")
        let frame = try BinaryXML.encodeFrame(ping.node)
        #expect(frame.first == 0x00)
        #expect(Array(frame.dropFirst()) == (try BinaryXML.encode(ping.node)))
    }

    @Test func trailingBytesAreRejected() throws {
        let ping = try Self.vector("ping")
        #expect(throws: BinaryXMLError(.trailingBytes, offset: ping.encoded.count - 1)) {
            try BinaryXML.decodeFrame(ping.encoded + [0x00])
        }
    }

    /// Test helper: zlib (RFC 1950) compression through the system zlib.
    static func deflate(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        _ = CZlib_deflateInit(&stream, 9)
        defer { deflateEnd(&stream) }
        var source = input
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))))
        let written = source.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = UInt32(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = UInt32(outBuffer.count)
                _ = CZlib.deflate(&stream, Z_FINISH)
                return outBuffer.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<written])
    }
}
