import Foundation

/// A worker's claim on a session: while it is valid (`now < expiresAt`) only `owner` holds the
/// session's WhatsApp connection. `generation` grows by one with each new tenure (first
/// acquisition, take-over after expiry, acquisition after release) and stays the same while the
/// owner renews, so it works as a fencing token: a stale owner's generation never matches again.
public struct Lease: Sendable, Hashable {
    public var organization: String
    public var session: String
    public var owner: String
    public var acquiredAt: Date
    public var expiresAt: Date
    public var generation: Int64

    public init(organization: String, session: String, owner: String, acquiredAt: Date, expiresAt: Date, generation: Int64) {
        self.organization = organization
        self.session = session
        self.owner = owner
        self.acquiredAt = acquiredAt
        self.expiresAt = expiresAt
        self.generation = generation
    }
}

/// The answer of `acquireLease`.
public enum LeaseAcquisition: Sendable, Hashable {
    /// The caller owns the session until `lease.expiresAt` (new, re-acquired, or taken over after expiry).
    case granted(Lease)
    /// Another worker holds a valid lease; forward to `lease.owner`.
    case heldByAnother(Lease)

    public var lease: Lease {
        switch self {
        case .granted(let lease), .heldByAnother(let lease): lease
        }
    }

    public var isGranted: Bool {
        if case .granted = self { true } else { false }
    }
}
