/// A phone number as the gateway accepts it for phone-number pairing: international form, ASCII digits
/// only, country code first, no `+`, no formatting (linking spec §5.2).
///
/// The gateway refuses instead of cleaning up (unlike whatsmeow, which strips non-digits), so a caller
/// learns early that `+44 20…` must be sent as `4420…` and nothing guesses on its behalf.
public struct PhoneNumber: Sendable, Hashable, CustomStringConvertible {
    /// ITU-T E.164 allows at most 15 digits including the country code.
    public static let maximumDigits = 15
    /// The shortest real international numbers have 7 digits (a 3-digit country code and a 4-digit
    /// subscriber number, e.g. Saint Helena +290, Niue +683, Tokelau +690); whatsmeow likewise refuses 6 or
    /// fewer.
    public static let minimumDigits = 7

    /// The validated digits, e.g. `"15550001111"`; the user part of `<digits>@s.whatsapp.net`.
    public let digits: String

    /// Checks `text` and keeps it as is, or throws the first rule it breaks, in this order: empty,
    /// leading `+`, non-digit, leading `0`, too short, too long.
    public init(validating text: String) throws(PhoneNumberError) {
        let bytes = Array(text.utf8)
        guard let first = bytes.first else { throw PhoneNumberError(.empty) }
        if first == UInt8(ascii: "+") { throw PhoneNumberError(.leadingPlus) }
        // ASCII only: Unicode digits such as "٣" are not valid in a JID.
        guard bytes.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            throw PhoneNumberError(.nonDigit)
        }
        if first == UInt8(ascii: "0") { throw PhoneNumberError(.leadingZero) }
        guard bytes.count >= Self.minimumDigits else { throw PhoneNumberError(.tooShort) }
        guard bytes.count <= Self.maximumDigits else { throw PhoneNumberError(.tooLong) }
        digits = text
    }

    public var description: String { digits }
}

/// Why a phone number was refused.
public struct PhoneNumberError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case empty, leadingPlus, nonDigit, leadingZero, tooShort, tooLong }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// No characters at all.
        public static let empty = Code(.empty)
        /// Starts with `+`: send the digits without it.
        public static let leadingPlus = Code(.leadingPlus)
        /// Holds something other than ASCII `0`–`9` (spaces, dashes, brackets, letters, other scripts).
        public static let nonDigit = Code(.nonDigit)
        /// Starts with `0`: a national (trunk-prefixed) number, not an international one.
        public static let leadingZero = Code(.leadingZero)
        /// Fewer than ``PhoneNumber/minimumDigits`` digits.
        public static let tooShort = Code(.tooShort)
        /// More than ``PhoneNumber/maximumDigits`` digits.
        public static let tooLong = Code(.tooLong)
        public var description: String {
            switch value {
            case .empty: "empty phone number"
            case .leadingPlus: "phone number starts with +"
            case .nonDigit: "phone number has a non-digit"
            case .leadingZero: "phone number starts with 0"
            case .tooShort: "phone number too short"
            case .tooLong: "phone number too long"
            }
        }
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }
    public var description: String { "PhoneNumberError: \(code)" }
}
