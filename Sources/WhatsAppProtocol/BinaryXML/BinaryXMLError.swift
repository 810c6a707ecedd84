/// Why binary XML bytes could not be decoded, or a node could not be encoded.
public struct BinaryXMLError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case truncated, invalidTagByte, invalidToken, invalidPackedDigit, invalidUTF8, invalidJID, invalidNode
            case depthExceeded, trailingBytes, emptyFrame, decompressionFailed, decompressedTooLarge, tooLarge
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The input ended in the middle of a node, or a length points past the end of the input.
        public static let truncated = Code(.truncated)
        /// A byte that is not allowed where it appeared (unused values 240...244, a list where a string
        /// belongs, a JID where a key belongs, ...).
        public static let invalidTagByte = Code(.invalidTagByte)
        /// A token index outside the token tables (the current double-byte tables are full, so only a
        /// future, shorter table could produce it).
        public static let invalidToken = Code(.invalidToken)
        /// A malformed packed (NIBBLE_8) string: a digit that stands for no character (12...15) anywhere
        /// but the dropped padding position, or an odd-length flag on zero bytes.
        public static let invalidPackedDigit = Code(.invalidPackedDigit)
        /// Raw bytes in a string position (tag, attribute, JID part) that are not valid UTF-8.
        public static let invalidUTF8 = Code(.invalidUTF8)
        /// A JID without a server, or an FB/interop JID whose server is not `msgr`/`interop`.
        public static let invalidJID = Code(.invalidJID)
        /// A node header whose list size is 0, or a node with an empty tag.
        public static let invalidNode = Code(.invalidNode)
        /// Children nested deeper than ``BinaryXML/maxDepth``.
        public static let depthExceeded = Code(.depthExceeded)
        /// Bytes left over after the top-level node.
        public static let trailingBytes = Code(.trailingBytes)
        /// A frame plaintext without even the flags byte.
        public static let emptyFrame = Code(.emptyFrame)
        /// A payload flagged as compressed is not a valid zlib stream.
        public static let decompressionFailed = Code(.decompressionFailed)
        /// A compressed payload inflates to more than the allowed size.
        public static let decompressedTooLarge = Code(.decompressedTooLarge)
        /// A node too big for the format (more than 65535 list entries, or a byte string of 2^32 bytes or more).
        public static let tooLarge = Code(.tooLarge)

        public var description: String {
            switch value {
            case .truncated: "truncated input"
            case .invalidTagByte: "invalid tag byte"
            case .invalidToken: "invalid token"
            case .invalidPackedDigit: "invalid packed digit"
            case .invalidUTF8: "invalid UTF-8"
            case .invalidJID: "invalid JID"
            case .invalidNode: "invalid node"
            case .depthExceeded: "nesting too deep"
            case .trailingBytes: "trailing bytes"
            case .emptyFrame: "empty frame"
            case .decompressionFailed: "zlib decompression failed"
            case .decompressedTooLarge: "decompressed payload too large"
            case .tooLarge: "node too large to encode"
            }
        }
    }

    public let code: Code
    /// Byte offset in the decoded input where the problem was found, when known.
    public let offset: Int?

    public init(_ code: Code, offset: Int? = nil) {
        self.code = code
        self.offset = offset
    }

    public var description: String {
        if let offset { "BinaryXMLError: \(code) at offset \(offset)" } else { "BinaryXMLError: \(code)" }
    }
}
