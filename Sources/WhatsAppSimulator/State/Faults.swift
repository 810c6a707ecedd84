/// Deliberate misbehaviour, so tests reach the companion's failure paths. Every field is optional: nil
/// means "no opinion" (another scope may still set it).
///
/// Faults are looked up in three scopes, most specific first (``FaultBook``):
/// - the **phone number** that acts (the phone scanning or entering a code, or the number a companion
///   asks a pairing code for): one-shot, each field is cleared when it fires;
/// - the **next connection**: a queue; each accepted WebSocket connection (registration or login, in
///   accept order) takes the head entry, and each field fires at most once on that connection;
/// - **global**: applies to every connection and action until changed.
///
/// With many sessions at once, target one session by phone number; only ``wrongRootKey`` has to be decided
/// before the server knows anything about the client (it is the ServerHello itself), so it exists only in
/// the connection and global scopes.
public struct SimulatorFaults: Sendable, Hashable, Codable {
    /// The ServerHello's certificate chain is signed by another root than the advertised one, so a
    /// companion that checks the chain refuses the handshake. Connection and global scopes only.
    public var wrongRootKey: Bool?
    /// The pair-success `device-identity` carries a wrong HMAC or a wrong account signature.
    public var pairSuccess: PairSuccessFault?
    /// Right after a QR scan (before pair-success) the server drops the connection.
    public var dropAfterScan: Bool?
    /// `companion_hello` is refused.
    public var companionHelloRefusal: CompanionHelloRefusal?
    /// Right after a QR scan the server sends `companion_reg_refresh` instead of pair-success; the phone
    /// must scan the re-rendered QR (a scan of the old one yields a pair-success the companion rejects).
    public var companionRegRefreshAfterScan: Bool?
    /// Right after a QR scan (or accepted code) the server sends `passkey_prologue_request` instead of
    /// pair-success, as for accounts in the passkey rollout; the pairing then stalls.
    public var passkeyRequestAfterScan: Bool?

    public init(
        wrongRootKey: Bool? = nil, pairSuccess: PairSuccessFault? = nil, dropAfterScan: Bool? = nil,
        companionHelloRefusal: CompanionHelloRefusal? = nil, companionRegRefreshAfterScan: Bool? = nil,
        passkeyRequestAfterScan: Bool? = nil
    ) {
        self.wrongRootKey = wrongRootKey
        self.pairSuccess = pairSuccess
        self.dropAfterScan = dropAfterScan
        self.companionHelloRefusal = companionHelloRefusal
        self.companionRegRefreshAfterScan = companionRegRefreshAfterScan
        self.passkeyRequestAfterScan = passkeyRequestAfterScan
    }

    /// No fault set.
    public static let none = SimulatorFaults()

    /// True when no field is set.
    public var isEmpty: Bool { self == .none }
}

/// A defect in the pair-success `device-identity`.
public enum PairSuccessFault: String, Sendable, Hashable, Codable, CaseIterable {
    /// The HMAC (keyed by the adv secret) has a bit flipped: the companion answers `401 hmac-mismatch`.
    case badHMAC = "bad-hmac"
    /// The phone's account signature has a bit flipped: the companion answers `401 signature-mismatch`.
    case badAccountSignature = "bad-account-signature"
}

/// How the server refuses `companion_hello` (2026 addendum §C.4).
public struct CompanionHelloRefusal: Sendable, Hashable, Codable {
    /// The `<error code=…>`: 400, 403, 429, 452 or 500.
    public var code: Int
    /// The `<error text=…>`, e.g. `bad-request`, `rate-overlimit`.
    public var text: String
    /// The optional `backoff` attribute, in seconds.
    public var backoffSeconds: Int?

    public init(code: Int, text: String, backoffSeconds: Int? = nil) {
        self.code = code
        self.text = text
        self.backoffSeconds = backoffSeconds
    }

    /// `400 bad-request`, what the server answers to a bad display string or a throttled number.
    public static let badRequest = CompanionHelloRefusal(code: 400, text: "bad-request")

    /// `429 rate-overlimit` with a `backoff` hint.
    public static func rateOverlimit(backoffSeconds: Int = 30) -> CompanionHelloRefusal {
        CompanionHelloRefusal(code: 429, text: "rate-overlimit", backoffSeconds: backoffSeconds)
    }
}

/// Where a fault rule applies (see ``SimulatorFaults``).
public enum FaultScope: Sendable, Hashable {
    case global
    case nextConnection
    case phone(String)
}

/// The fault rules and their consumption (pure; the simulator keeps one behind a lock).
struct FaultBook: Sendable {
    private(set) var global = SimulatorFaults.none
    private(set) var queued: [SimulatorFaults] = []
    private(set) var byPhone: [String: SimulatorFaults] = [:]

    /// Sets (replaces) the rule for `scope`; for ``FaultScope/nextConnection`` appends one more entry.
    mutating func set(_ faults: SimulatorFaults, for scope: FaultScope) {
        switch scope {
        case .global: global = faults
        case .nextConnection: queued.append(faults)
        case .phone(let number): byPhone[number] = faults.isEmpty ? nil : faults
        }
    }

    /// Removes every rule.
    mutating func clear() {
        self = FaultBook()
    }

    /// The faults of a newly accepted connection: the head of the queue (if any).
    mutating func takeConnectionFaults() -> SimulatorFaults {
        queued.isEmpty ? .none : queued.removeFirst()
    }

    /// Resolves one fault field: the phone rule first (consumed), then the connection's (consumed), then
    /// the global one.
    mutating func take<Value>(
        _ field: WritableKeyPath<SimulatorFaults, Value?>, phone: String?, connection: inout SimulatorFaults
    ) -> Value? {
        if let phone, var rule = byPhone[phone], let value = rule[keyPath: field] {
            rule[keyPath: field] = nil
            byPhone[phone] = rule.isEmpty ? nil : rule
            return value
        }
        if let value = connection[keyPath: field] {
            connection[keyPath: field] = nil
            return value
        }
        return global[keyPath: field]
    }
}
