import Foundation

/// Looks up an API key (`wlk_...`). The store implements it by hashing the key and finding the
/// hash, so Auth does not depend on how keys are stored.
public protocol APIKeyResolver: Sendable {
    /// The key's record, or `nil` when no key has this value. Throws only when the lookup itself
    /// failed (the store is down); that error must not contain the key.
    func resolve(_ key: String) async throws -> ResolvedAPIKey?
}

/// What the store knows about an API key.
public struct ResolvedAPIKey: Sendable, Hashable {
    public var organization: String
    /// The key's public id, used as the caller's subject.
    public var keyID: String
    /// The capabilities the key grants (for example `manage`).
    public var permissions: Set<String>
    public var revoked: Bool
    /// When the key stops working, if it expires.
    public var expiresAt: Date?

    public init(organization: String, keyID: String, permissions: Set<String>, revoked: Bool, expiresAt: Date? = nil) {
        self.organization = organization
        self.keyID = keyID
        self.permissions = permissions
        self.revoked = revoked
        self.expiresAt = expiresAt
    }
}
