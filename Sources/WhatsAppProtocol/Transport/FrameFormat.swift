/// Constants of the length-prefixed framing (spec 1.3): each frame is a 3-byte big-endian length followed
/// by that many bytes.
public enum FrameFormat {
    /// The longest body a 3-byte length can declare: 2^24 - 1.
    public static let maximumLength = (1 << 24) - 1
    /// Bytes in the length prefix.
    public static let lengthPrefixSize = 3

    /// `length` as 3 bytes big-endian; callers have checked `0...maximumLength`.
    static func lengthPrefix(_ length: Int) -> [UInt8] {
        [UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
    }
}
