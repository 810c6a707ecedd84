/// The companion's adv secret from registration until pairing ends, and the rules that replace it.
///
/// There is exactly one live secret: pair-success is HMAC-checked against the secret held when it arrives
/// and retired secrets are never accepted (2026 addendum §A.6), so a phone that scanned a QR rendered before
/// a rotation cannot complete and the user scans the re-rendered code. Rotations happen on
/// `companion_reg_refresh` (§A.3) and when a pair-code flow reaches stage 2 (linking spec §5.7 step 8,
/// addendum §A.5).
public struct AdvSecretState: Sendable, Hashable {
    /// The secret pair-success must be checked against, and the one the QR must show (field 4).
    public private(set) var current: [UInt8]
    /// Stage 2 of a pair-code flow ran (`companion_finish` built), so a pair-success keyed with the derived
    /// secret is on its way.
    public private(set) var isAwaitingPairCodeSuccess = false
    /// Pairing has completed; nothing rotates any more.
    public private(set) var isPaired = false

    /// Starts with the random secret drawn at registration (32 bytes, from the caller's generator).
    public init(initial: [UInt8]) throws(AdvSecretError) {
        guard initial.count == 32 else { throw AdvSecretError(.invalidLength) }
        current = initial
    }

    /// What `companion_reg_refresh` did. The notification is acknowledged in every case (§A.3 step 3).
    public enum RefreshOutcome: Sendable, Hashable {
        /// The secret was replaced: persist `new` and re-render the QR of the current ref with it (same ref,
        /// remaining lifetime; §A.3 step 2, §A.4).
        case rotated(old: [UInt8], new: [UInt8])
        /// Dropped, not queued: a pair-code pair-success keyed with the stage-2 secret is pending (§A.5,
        /// following whatsapp-rust; WhatsApp Web would rotate and break that pairing).
        case ignoredPairCodePending
        /// Dropped: the device is already paired (§A.7).
        case ignoredAlreadyPaired
    }

    /// Applies `companion_reg_refresh` with a freshly drawn 32-byte secret (§A.3 step 1).
    public mutating func companionRegRefresh(newSecret: [UInt8]) throws(AdvSecretError) -> RefreshOutcome {
        guard newSecret.count == 32 else { throw AdvSecretError(.invalidLength) }
        if isPaired { return .ignoredAlreadyPaired }
        if isAwaitingPairCodeSuccess { return .ignoredPairCodePending }
        let old = current
        current = newSecret
        return .rotated(old: old, new: newSecret)
    }

    /// Stage 2 of the pair-code flow: the HKDF-derived secret (``PairingCodeCrypto/CompanionFinish``)
    /// replaces the stored one, and refreshes are held off until pair-success or ``retirePairCode(newSecret:)``.
    public mutating func adoptPairCodeSecret(_ derived: [UInt8]) throws(AdvSecretError) {
        guard derived.count == 32 else { throw AdvSecretError(.invalidLength) }
        guard !isPaired else { throw AdvSecretError(.alreadyPaired) }
        current = derived
        isAwaitingPairCodeSuccess = true
    }

    /// A stage-2 pair-code flow was given up (no pair-success in time, or the code was regenerated): its
    /// derived secret is retired and a fresh random one minted (addendum §C.3).
    public mutating func retirePairCode(newSecret: [UInt8]) throws(AdvSecretError) {
        guard newSecret.count == 32 else { throw AdvSecretError(.invalidLength) }
        guard !isPaired else { throw AdvSecretError(.alreadyPaired) }
        current = newSecret
        isAwaitingPairCodeSuccess = false
    }

    /// A pair-success passed verification against ``current``. A rejected one changes nothing: the code on
    /// screen stays valid (§A.6).
    public mutating func markPaired() {
        isPaired = true
        isAwaitingPairCodeSuccess = false
    }
}

/// Why an adv secret change was refused.
public struct AdvSecretError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case invalidLength, alreadyPaired }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// A secret was not 32 bytes.
        public static let invalidLength = Code(.invalidLength)
        /// Pairing has completed; the secret no longer changes.
        public static let alreadyPaired = Code(.alreadyPaired)
        public var description: String {
            switch value {
            case .invalidLength: "invalid adv secret length"
            case .alreadyPaired: "already paired"
            }
        }
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }
    public var description: String { "AdvSecretError: \(code)" }
}
