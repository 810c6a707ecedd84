import Crypto
import Foundation
import Testing

@testable import Store

@Suite struct APIKeyStoreTests {
    @Test(arguments: StoreKind.allCases)
    func createListRevokeLookup(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            let created = try await store.createAPIKey(organization: "org-a", name: "CI", permissions: ["manage", "read"])
            #expect(created.key.hasPrefix("wlk_"))
            #expect(created.key.count == 4 + 43)
            #expect(APIKeyFormat.isWellFormed(created.key))
            #expect(created.record.id.hasPrefix("key_"))
            #expect(created.record.organization == "org-a")
            #expect(created.record.name == "CI")
            #expect(created.record.permissions == ["manage", "read"])
            #expect(created.record.displayPrefix == String(created.key.dropFirst(4).prefix(8)))
            #expect(created.record.createdAt == clock.now)
            #expect(!created.record.isRevoked)
            #expect(!String(describing: created).contains(created.key))

            clock.advance(.seconds(1))
            let second = try await store.createAPIKey(organization: "org-a", name: nil, permissions: ["manage"])
            _ = try await store.createAPIKey(organization: "org-b", name: "B", permissions: ["manage"])
            #expect(second.key != created.key)

            let listed = try await store.listAPIKeys(organization: "org-a")
            #expect(listed == [created.record, second.record])
            #expect(!String(describing: listed).contains(created.key))
            #expect(!String(describing: listed).contains(String(created.key.dropFirst(4))))

            #expect(try await store.lookupAPIKey(created.key) == created.record)
            #expect(try await store.lookupAPIKey(second.key)?.permissions == ["manage"])

            clock.advance(.seconds(1))
            let revoked = try await store.revokeAPIKey(organization: "org-a", id: created.record.id)
            #expect(revoked.isRevoked)
            #expect(revoked.revokedAt == clock.now)
            let looked = try #require(try await store.lookupAPIKey(created.key))
            #expect(looked.isRevoked)
            #expect(looked.organization == "org-a")
            // Revoking again keeps the first time.
            clock.advance(.seconds(1))
            #expect(try await store.revokeAPIKey(organization: "org-a", id: created.record.id).revokedAt == revoked.revokedAt)
            #expect(try await store.lookupAPIKey(second.key)?.isRevoked == false)

            // Another organization cannot revoke or see it.
            await #expect(throws: StoreError(.notFound)) { try await store.revokeAPIKey(organization: "org-b", id: second.record.id) }
            await #expect(throws: StoreError(.notFound)) { try await store.revokeAPIKey(organization: "org-a", id: "key_missing") }
            #expect(try await store.listAPIKeys(organization: "org-b").map(\.organization) == ["org-b"])

            // The store holds the hash, never the key.
            let bytes = try await store.storedBytes()
            #expect(!bytes.contains(bytes: Data(created.key.utf8)))
            #expect(!bytes.contains(bytes: Data(created.key.dropFirst(4).utf8)))
            #expect(bytes.contains(bytes: Data(SHA256.hash(data: Data(created.key.utf8)))))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func unknownAndMalformedKeysAreNotFound(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let created = try await store.createAPIKey(organization: "org-a", name: nil, permissions: ["manage"])
            var altered = Array(created.key)
            altered[altered.count - 1] = altered[altered.count - 1] == "0" ? "1" : "0"
            for key in [
                String(altered), "", "wlk_", "wlk_short", "Bearer " + created.key, created.key + "x", created.key.uppercased(), "eyJhbGciOi.x.y",
            ] {
                #expect(try await store.lookupAPIKey(key) == nil)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func permissionsAreValidated(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for permissions: Set<String> in [[], [""], ["has space"], [String(repeating: "p", count: 65)]] {
                await #expect(throws: StoreError(.invalidArgument)) {
                    try await store.createAPIKey(organization: "org-a", name: nil, permissions: permissions)
                }
            }
            let created = try await store.createAPIKey(organization: "org-a", name: nil, permissions: ["sessions:read", "manage"])
            #expect(created.record.permissions == ["sessions:read", "manage"])
        }
    }

    @Test func generatedKeysLookRandom() {
        let keys = (0..<200).map { _ in APIKeyFormat.generate() }
        #expect(Set(keys).count == keys.count)
        #expect(keys.allSatisfy(APIKeyFormat.isWellFormed))
        // Every base62 digit shows up somewhere in the bodies (leading zero padding aside).
        let used = Set(keys.flatMap { $0.dropFirst(5) })
        #expect(used.count == 62)
    }
}
