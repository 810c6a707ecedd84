import Foundation

/// The content of a pairing QR code (linking spec §4.2, 2026 addendum §C.1): the server's ref and the
/// companion's noise static public key, identity public key and adv secret.
///
/// The companion renders it at display time (the adv secret can be rotated by `companion_reg_refresh`, after
/// which only the fourth field changes, 2026 §A.3); the simulator's phone parses it back.
public struct PairingQR: Sendable, Hashable {
    /// Prefix of the current (May 2026) form.
    public static let deepLinkPrefix = "https://wa.me/settings/linked_devices#"

    /// The ref as the server sent it (`<ref>` content), used as-is.
    public let ref: String
    /// The noise static public key, 32 bytes.
    public let noisePublicKey: [UInt8]
    /// The identity public key, 32 bytes, without the `0x05` prefix.
    public let identityPublicKey: [UInt8]
    /// The adv secret that pair-success's HMAC is keyed with, 32 bytes.
    public let advSecret: [UInt8]

    /// Checks the parts: keys of 32 bytes; a ref of printable ASCII without `,` (the separator) or `#` (the
    /// URL fragment mark), so that the string can be parsed back unambiguously.
    public init(
        ref: String, noisePublicKey: [UInt8], identityPublicKey: [UInt8], advSecret: [UInt8]
    ) throws(PairingQRError) {
        guard Self.isValidRef(ref) else { throw PairingQRError(.invalidRef) }
        guard noisePublicKey.count == 32, identityPublicKey.count == 32, advSecret.count == 32 else {
            throw PairingQRError(.invalidKeyLength)
        }
        self.ref = ref
        self.noisePublicKey = noisePublicKey
        self.identityPublicKey = identityPublicKey
        self.advSecret = advSecret
    }

    /// The current form: `https://wa.me/settings/linked_devices#ref,noise,identity,adv,platform`, keys in
    /// standard padded base64.
    public func deepLink(platform: CompanionPlatform) -> String {
        Self.deepLinkPrefix + fourFieldString + "," + platform.id
    }

    /// The form used before May 2026: `ref,noise,identity,adv`, no prefix, no platform.
    public var fourFieldString: String {
        [ref, Self.base64(noisePublicKey), Self.base64(identityPublicKey), Self.base64(advSecret)]
            .joined(separator: ",")
    }

    /// The same QR with a new adv secret, for re-rendering the current ref after `companion_reg_refresh`.
    public func replacingAdvSecret(_ newSecret: [UInt8]) throws(PairingQRError) -> PairingQR {
        try PairingQR(
            ref: ref, noisePublicKey: noisePublicKey, identityPublicKey: identityPublicKey, advSecret: newSecret)
    }

    // MARK: - Parsing

    /// A parsed QR string.
    public struct Parsed: Sendable, Hashable {
        public let qr: PairingQR
        /// The fifth field, or nil for the four-field form. Any alphanumeric id is kept, known or not.
        public let platformID: String?
        /// Whether the string carried ``PairingQR/deepLinkPrefix``.
        public let isDeepLink: Bool
    }

    /// Parses the three forms in use: the deep link with five fields, the bare five fields (whatsapp-rust's
    /// default, 2026 §C.1) and the bare four fields. A deep link must carry the platform id. Base64 must be
    /// standard, padded and canonical, and decode to 32 bytes.
    public static func parse(_ text: String) throws(PairingQRError) -> Parsed {
        var body = Substring(text)
        let isDeepLink = body.hasPrefix(deepLinkPrefix)
        if isDeepLink { body = body.dropFirst(deepLinkPrefix.count) }
        let fields = body.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count == 4 || fields.count == 5 else { throw PairingQRError(.wrongFieldCount) }
        if isDeepLink && fields.count == 4 { throw PairingQRError(.missingPlatformID) }
        var platformID: String?
        if fields.count == 5 {
            let id = fields[4]
            guard !id.isEmpty, id.utf8.allSatisfy(isASCIIAlphanumeric) else {
                throw PairingQRError(.invalidPlatformID)
            }
            platformID = String(id)
        }
        let qr = try PairingQR(
            ref: String(fields[0]), noisePublicKey: try decodeKey(fields[1]),
            identityPublicKey: try decodeKey(fields[2]), advSecret: try decodeKey(fields[3]))
        return Parsed(qr: qr, platformID: platformID, isDeepLink: isDeepLink)
    }

    private static func isValidRef(_ ref: String) -> Bool {
        !ref.isEmpty && ref.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "#") }
    }

    private static func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }

    private static func base64(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    /// Strict standard base64: alphabet `A–Z a–z 0–9 + /`, `=` padding to a multiple of 4, and canonical
    /// (re-encoding gives the same text, so unused trailing bits are zero).
    private static func decodeKey(_ field: Substring) throws(PairingQRError) -> [UInt8] {
        let text = String(field)
        guard !text.isEmpty, text.utf8.count % 4 == 0,
            let data = Data(base64Encoded: text), data.base64EncodedString() == text
        else { throw PairingQRError(.invalidBase64) }
        guard data.count == 32 else { throw PairingQRError(.invalidKeyLength) }
        return Array(data)
    }
}

/// Why a QR payload could not be built or parsed.
public struct PairingQRError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case wrongFieldCount, missingPlatformID, invalidRef, invalidBase64, invalidKeyLength, invalidPlatformID
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// Not 4 or 5 comma-separated fields.
        public static let wrongFieldCount = Code(.wrongFieldCount)
        /// A deep link with only 4 fields.
        public static let missingPlatformID = Code(.missingPlatformID)
        /// The ref is empty, or has a character outside printable ASCII, or a `,` or `#`.
        public static let invalidRef = Code(.invalidRef)
        /// A key field is not strict, padded, canonical standard base64.
        public static let invalidBase64 = Code(.invalidBase64)
        /// A key is not 32 bytes.
        public static let invalidKeyLength = Code(.invalidKeyLength)
        /// The platform id is empty or not ASCII alphanumeric.
        public static let invalidPlatformID = Code(.invalidPlatformID)
        public var description: String {
            switch value {
            case .wrongFieldCount: "wrong QR field count"
            case .missingPlatformID: "QR deep link without platform id"
            case .invalidRef: "invalid QR ref"
            case .invalidBase64: "invalid QR base64"
            case .invalidKeyLength: "invalid QR key length"
            case .invalidPlatformID: "invalid QR platform id"
            }
        }
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }
    public var description: String { "PairingQRError: \(code)" }
}
