/// Why a frame could not be written or read.
public struct FrameError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case frameTooLarge, badIntroHeader, routingInfoTooLarge
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// A frame body is longer than the 3-byte length allows (2^24 - 1), or a declared length is
        /// longer than the reader's configured maximum.
        public static let frameTooLarge = Code(.frameTooLarge)
        /// A server-side reader found bytes other than `57 41 06 03` (optionally after an `ED 00 01`
        /// routing prefix) at the start of the stream.
        public static let badIntroHeader = Code(.badIntroHeader)
        /// Routing info in an intro header is longer than 2^24 - 1 bytes (writer) or than the reader's
        /// maximum frame length (reader).
        public static let routingInfoTooLarge = Code(.routingInfoTooLarge)
        public var description: String {
            switch value {
            case .frameTooLarge: "frame too large"
            case .badIntroHeader: "bad intro header"
            case .routingInfoTooLarge: "routing info too large"
            }
        }
    }

    public let code: Code
    /// The offending length, when there is one.
    public let length: Int?
    public init(_ code: Code, length: Int? = nil) {
        self.code = code
        self.length = length
    }
    public var description: String {
        if let length { "FrameError: \(code) (\(length))" } else { "FrameError: \(code)" }
    }
}
