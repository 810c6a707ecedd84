import Foundation
import Synchronization

/// Generates ULID-style ids: 48 bits of milliseconds then 80 random bits from the system CSPRNG,
/// written as 26 Crockford base32 characters, so ids sort by creation time as plain strings.
/// Within one millisecond (or when the clock steps back) the previous random part is incremented,
/// so ids from one generator are strictly increasing; ids from different processes created in the
/// same millisecond are ordered randomly, which is fine for listing.
package final class SortableIDGenerator: Sendable {
    private struct State {
        var milliseconds: UInt64 = 0
        var randomHigh: UInt16 = 0
        var randomLow: UInt64 = 0
    }

    private let state = Mutex(State())

    package init() {}

    /// The 26-character id for `date`.
    package func next(at date: Date) -> String {
        let wanted = UInt64(max(0, date.storeMilliseconds)) & 0xFFFF_FFFF_FFFF
        let (milliseconds, high, low) = state.withLock { state in
            if wanted > state.milliseconds {
                var random = SystemRandomNumberGenerator()
                state.milliseconds = wanted
                state.randomHigh = UInt16.random(in: .min ... .max, using: &random)
                state.randomLow = UInt64.random(in: .min ... .max, using: &random)
            } else {
                let (low, overflow) = state.randomLow.addingReportingOverflow(1)
                state.randomLow = low
                if overflow {
                    let (high, overflowHigh) = state.randomHigh.addingReportingOverflow(1)
                    state.randomHigh = high
                    // 2^80 ids in one millisecond: borrow the next millisecond instead of wrapping.
                    if overflowHigh { state.milliseconds += 1 }
                }
            }
            return (state.milliseconds, state.randomHigh, state.randomLow)
        }
        return Self.encode(milliseconds: milliseconds, randomHigh: high, randomLow: low)
    }

    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    static func encode(milliseconds: UInt64, randomHigh: UInt16, randomLow: UInt64) -> String {
        var bytes = [UInt8](repeating: 0, count: 26)
        // 10 characters hold 50 bits; the time has 48, so the first character is 0...7.
        for index in 0..<10 {
            bytes[9 - index] = alphabet[Int((milliseconds >> (5 * UInt64(index))) & 31)]
        }
        // 16 characters hold the 80 random bits exactly: 16 high bits, then 64 low bits.
        for index in 0..<16 {
            let shift = 5 * index
            let value: UInt64
            if shift + 5 <= 64 {
                value = (randomLow >> UInt64(shift)) & 31
            } else if shift < 64 {
                let lowPart = randomLow >> UInt64(shift)
                let highPart = UInt64(randomHigh) << UInt64(64 - shift)
                value = (lowPart | highPart) & 31
            } else {
                value = (UInt64(randomHigh) >> UInt64(shift - 64)) & 31
            }
            bytes[25 - index] = alphabet[Int(value)]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Checks on the identifiers and names the store accepts. Shared by every store implementation so
/// SQLite and a later PostgreSQL store refuse the same input.
public enum StoreValidation {
    /// Session ids: `[A-Za-z0-9_-]{1,64}`; generated ones look like `sess_01J...` (31 characters).
    public static func isValidSessionID(_ id: String) -> Bool {
        let utf8 = id.utf8
        return (1...64).contains(utf8.count) && utf8.allSatisfy(isIDByte)
    }

    /// Organizations come from tokens; any 1...128 bytes of UTF-8 without control characters.
    public static func isValidOrganization(_ organization: String) -> Bool {
        (1...128).contains(organization.utf8.count) && !organization.unicodeScalars.contains(where: isControl)
    }

    /// Display names: 1...200 characters without control characters.
    public static func isValidName(_ name: String) -> Bool {
        (1...200).contains(name.count) && !name.unicodeScalars.contains(where: isControl)
    }

    /// Permissions such as `manage`: 1...64 of `[A-Za-z0-9_.:-]`.
    public static func isValidPermission(_ permission: String) -> Bool {
        let utf8 = permission.utf8
        return (1...64).contains(utf8.count) && utf8.allSatisfy { isIDByte($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") }
    }

    /// Worker ids holding leases: 1...255 bytes without control characters.
    public static func isValidWorker(_ worker: String) -> Bool {
        (1...255).contains(worker.utf8.count) && !worker.unicodeScalars.contains(where: isControl)
    }

    private static func isIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control
    }

    package static func organization(_ organization: String) throws(StoreError) {
        guard isValidOrganization(organization) else {
            throw StoreError(.invalidArgument, "organization must be 1 to 128 bytes without control characters")
        }
    }

    package static func sessionID(_ id: String) throws(StoreError) {
        guard isValidSessionID(id) else {
            throw StoreError(.invalidArgument, "session id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")
        }
    }

    package static func name(_ name: String?) throws(StoreError) {
        if let name, !isValidName(name) {
            throw StoreError(.invalidArgument, "name must be 1 to 200 characters without control characters")
        }
    }

    package static func worker(_ worker: String) throws(StoreError) {
        guard isValidWorker(worker) else {
            throw StoreError(.invalidArgument, "worker id must be 1 to 255 bytes without control characters")
        }
    }

    package static func limit(_ limit: Int) throws(StoreError) {
        guard SessionPage.limits.contains(limit) else {
            throw StoreError(.invalidArgument, "limit must be between \(SessionPage.limits.lowerBound) and \(SessionPage.limits.upperBound)")
        }
    }

    /// `setStatus` and `unpair` never make a session paired: only `markPaired` does, with the
    /// identity and credentials that go with it.
    package static func statusOtherThanPaired(_ status: SessionStatus) throws(StoreError) {
        guard status != .paired else {
            throw StoreError(.invalidArgument, "a session becomes paired only through markPaired, with its identity and credentials")
        }
    }

    package static func identity(_ identity: SessionIdentity) throws(StoreError) {
        guard !identity.jid.isEmpty else { throw StoreError(.invalidArgument, "identity.jid must not be empty") }
    }

    package static func permissions(_ permissions: Set<String>) throws(StoreError) {
        guard !permissions.isEmpty, permissions.allSatisfy(isValidPermission) else {
            throw StoreError(.invalidArgument, "permissions must be one or more of 1 to 64 characters of A-Z, a-z, 0-9, '_', '-', '.' and ':'")
        }
    }

    package static func replyKey(_ key: String) throws(StoreError) {
        guard (1...128).contains(key.utf8.count) else { throw StoreError(.invalidArgument, "reply key must be 1 to 128 bytes") }
    }

    package static func ttl(_ ttl: Duration) throws(StoreError) -> Int64 {
        let (seconds, attoseconds) = ttl.components
        guard ttl > .zero, seconds < 86_400 * 365 else {
            throw StoreError(.invalidArgument, "lease ttl must be positive and under a year")
        }
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
