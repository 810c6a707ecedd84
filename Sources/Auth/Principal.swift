/// An authenticated caller: who it is, for which organization, and what it may do.
public struct Principal: Sendable, Hashable {
    /// How the caller proved who it is.
    public enum Kind: String, Sendable, Hashable {
        /// A login JWT of the frontend.
        case jwt
        /// An API key (`wlk_...`) from the store.
        case apiKey
    }

    /// The organization every command of this caller acts in.
    public let organization: String
    /// The JWT's `sub`, or the API key's id (never the key itself).
    public let subject: String
    /// What the caller may do, for example ``Principal/manage``.
    public let capabilities: Set<String>
    public let kind: Kind

    public init(organization: String, subject: String, capabilities: Set<String>, kind: Kind) {
        self.organization = organization
        self.subject = subject
        self.capabilities = capabilities
        self.kind = kind
    }

    /// The capability the session commands need.
    public static let manage = "manage"
}
