/// Something a caller may be allowed to do. Each command names the one it needs; login JWTs get
/// theirs from the role, API keys from the permissions they were created with.
public struct Capability: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let name: String

    public init(_ name: String) { self.name = name }
    public init(stringLiteral name: String) { self.name = name }

    public var description: String { name }

    /// Create, pair, inspect and delete the organization's sessions.
    public static let manage: Capability = "manage"
}

/// An authenticated caller: the organization it acts for and what it may do.
public struct Caller: Sendable, Hashable {
    public let organization: String
    public let subject: String
    public let capabilities: Set<Capability>

    public init(organization: String, subject: String, capabilities: Set<Capability>) {
        self.organization = organization
        self.subject = subject
        self.capabilities = capabilities
    }

    public func may(_ capability: Capability) -> Bool { capabilities.contains(capability) }
}
