/// The 8-character code a user types on the phone to link by phone number (linking spec §5.3).
///
/// It is 40 random bits written MSB-first in a 32-letter alphabet without `0`, `I`, `O` and `U`, so it
/// cannot be misread. The 8 characters without the dash are the PBKDF2 password (§5.4); the dash is only
/// for display.
public struct PairingCode: Sendable, Hashable, CustomStringConvertible {
    /// The encoding alphabet, index = 5-bit value.
    public static let alphabet: [UInt8] = Array("123456789ABCDEFGHJKLMNPQRSTVWXYZ".utf8)
    /// How many random bytes make one code.
    public static let randomByteCount = 5
    /// How many characters a code has (without the dash).
    public static let length = 8

    /// The 8 code characters, upper case, without the dash: what goes into the KDF.
    public let characters: String

    /// Encodes 5 random bytes (the caller draws them, so tests can pin the result).
    public init(randomBytes: [UInt8]) throws(PairingCodeError) {
        guard randomBytes.count == Self.randomByteCount else { throw PairingCodeError(.invalidRandomLength) }
        let bits = randomBytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        var out: [UInt8] = []
        out.reserveCapacity(Self.length)
        for index in 0..<Self.length {
            let shift = UInt64(5 * (Self.length - 1 - index))
            out.append(Self.alphabet[Int(bits >> shift & 0x1F)])
        }
        characters = String(decoding: out, as: UTF8.self)
    }

    /// Reads a code as a user or the other side wrote it: `XXXX-XXXX` or `XXXXXXXX`. Lower-case letters are
    /// accepted and upper-cased (people type codes); anything outside the alphabet is refused.
    public init(parsing text: String) throws(PairingCodeError) {
        var bytes = Array(text.utf8)
        if bytes.count == Self.length + 1 {
            guard bytes[4] == UInt8(ascii: "-") else { throw PairingCodeError(.invalidCodeCharacter) }
            bytes.remove(at: 4)
        }
        guard bytes.count == Self.length else { throw PairingCodeError(.invalidCodeLength) }
        for index in bytes.indices {
            if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[index]) { bytes[index] -= 0x20 }
            guard Self.alphabet.contains(bytes[index]) else { throw PairingCodeError(.invalidCodeCharacter) }
        }
        characters = String(decoding: bytes, as: UTF8.self)
    }

    /// `XXXX-XXXX`, the form shown to the user.
    public var display: String {
        let chars = Array(characters)
        return String(chars[0..<4]) + "-" + String(chars[4...])
    }

    /// The PBKDF2 password: the 8 ASCII characters, no dash.
    public var passwordBytes: [UInt8] { Array(characters.utf8) }

    public var description: String { display }
}
