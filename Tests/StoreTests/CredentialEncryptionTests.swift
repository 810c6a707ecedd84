import Crypto
import Foundation
import StoreFactory
import Testing

@testable import Store

@Suite struct CredentialEncryptionTests {
    static let marker = Data("DEVICE-CREDENTIALS-PLAINTEXT-MARKER-noise-identity-adv-secret".utf8)

    /// SQLite only, as are the key tests below: files, the WAL, key files.
    @Test func credentialsAreNotReadableInTheDatabaseFiles() async throws {
        try await withTemporaryDatabase { path in
            let store = try await SQLiteStore.open(path: path, key: .key(testKey))
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            _ = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Self.marker)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == Self.marker)

            // While open, the write sits in the WAL; check both files.
            let live = databaseFileBytes(path)
            #expect(live.count > 0)
            #expect(live.contains(bytes: Data("628123456789:12@s.whatsapp.net".utf8)), "the search works: the identity is stored in clear")
            #expect(!live.contains(bytes: Self.marker))
            #expect(!live.contains(bytes: Self.marker.prefix(16)))
            #expect(!live.contains(bytes: testKeyBytes))
            #expect(!live.contains(bytes: Data(testKeyBytes.base64EncodedString().utf8)))

            // After close the WAL is checkpointed into the main file.
            await store.close()
            let closed = databaseFileBytes(path)
            #expect(!closed.contains(bytes: Self.marker))
            #expect(!closed.contains(bytes: Self.marker.prefix(16)))
            #expect(!closed.contains(bytes: testKeyBytes))
        }
    }

    @Test func wrongKeyFailsAtStartup() async throws {
        try await withTemporaryDatabase { path in
            let store = try await SQLiteStore.open(path: path, key: .key(testKey))
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            _ = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Self.marker)
            await store.close()

            let otherBytes = Data(repeating: 0x42, count: 32)
            let otherKey = try StoreKey(SymmetricKey(data: otherBytes))
            let error = await #expect(throws: StoreError.self) { try await SQLiteStore.open(path: path, key: .key(otherKey)) }
            #expect(error?.code == .wrongKey)
            let description = error?.description ?? ""
            #expect(description.contains("key"))
            #expect(!description.contains(otherBytes.base64EncodedString()))
            #expect(!description.contains(testKeyBytes.base64EncodedString()))
            #expect(!description.lowercased().contains("4242"))

            // The right key still works afterwards.
            let reopened = try await SQLiteStore.open(path: path, key: .key(testKey))
            #expect(try await reopened.credentials(organization: "org-a", id: "s1") == Self.marker)
            await reopened.close()
        }
    }

    @Test func keyFileIsCreatedPrivateAndReused() async throws {
        try await withTemporaryDatabase { path in
            let keyPath = path + ".key"
            #expect(!FileManager.default.fileExists(atPath: keyPath))
            let store = try await SQLiteStore.open(path: path)
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            _ = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Self.marker)
            await store.close()

            let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
            let permissions = try #require(attributes[.posixPermissions] as? NSNumber).intValue
            #expect(permissions & 0o777 == 0o600)
            let contents = try #require(FileManager.default.contents(atPath: keyPath))
            let key = try StoreKey(parsing: String(decoding: contents, as: UTF8.self))
            #expect(String(describing: key) == "StoreKey(redacted)")
            // No temporary files left next to it.
            let siblings = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
            #expect(!siblings.contains { $0.hasSuffix(".tmp") })

            let reopened = try await SQLiteStore.open(path: path)
            #expect(try await reopened.credentials(organization: "org-a", id: "s1") == Self.marker)
            await reopened.close()
            #expect(FileManager.default.contents(atPath: keyPath) == contents)

            // The same key given in configuration opens the database too.
            let given = try await SQLiteStore.open(path: path, key: .key(key))
            #expect(try await given.credentials(organization: "org-a", id: "s1") == Self.marker)
            await given.close()
        }
    }

    @Test func configuredKeyFilePathIsUsed() async throws {
        try await withTemporaryDatabase { path in
            let keyPath = (path as NSString).deletingLastPathComponent + "/custom.key"
            let configuration = try StoreConfiguration(environment: ["WALINK_STORE": "sqlite:\(path)", "WALINK_STORE_KEY_FILE": keyPath])
            let store = try await StoreFactory.open(configuration)
            await store.close()
            #expect(FileManager.default.fileExists(atPath: keyPath))
            #expect(!FileManager.default.fileExists(atPath: path + ".key"))
        }
    }

    @Test func missingKeyFileForAnExistingDatabaseIsAnError() async throws {
        try await withTemporaryDatabase { path in
            let store = try await SQLiteStore.open(path: path)
            await store.close()
            try FileManager.default.removeItem(atPath: path + ".key")
            await #expect(throws: StoreError(.keyUnavailable)) { try await SQLiteStore.open(path: path) }
            #expect(!FileManager.default.fileExists(atPath: path + ".key"), "no new key is made for a database that has one")
        }
    }

    @Test func malformedKeyFileIsAnError() async throws {
        try await withTemporaryDatabase { path in
            try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: path + ".key"))
            await #expect(throws: StoreError(.keyUnavailable)) { try await SQLiteStore.open(path: path) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func blobCopiedToAnotherSessionIsRejected(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for (organization, id) in [("org-a", "s1"), ("org-a", "s2"), ("org-b", "s1")] {
                _ = try await store.createSession(organization: organization, id: id, name: nil)
                _ = try await store.markPaired(
                    organization: organization, id: id, identity: sampleIdentity, credentials: Data("own \(organization) \(id)".utf8))
            }
            // Someone with write access to the storage copies org-a/s1's blob over the others.
            let sealed = try #require(try await store.sealedCredentials(organization: "org-a", id: "s1"))
            try await store.overwriteSealedCredentials(organization: "org-a", id: "s2", with: sealed)
            try await store.overwriteSealedCredentials(organization: "org-b", id: "s1", with: sealed)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == Data("own org-a s1".utf8))
            await #expect(throws: StoreError(.credentialsRejected)) { try await store.credentials(organization: "org-a", id: "s2") }
            await #expect(throws: StoreError(.credentialsRejected)) { try await store.credentials(organization: "org-b", id: "s1") }

            // A flipped bit is rejected the same way.
            var altered = sealed
            altered[altered.count - 20] ^= 0x01
            try await store.overwriteSealedCredentials(organization: "org-a", id: "s1", with: altered)
            await #expect(throws: StoreError(.credentialsRejected)) { try await store.credentials(organization: "org-a", id: "s1") }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func storedCredentialsAreSealed(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            _ = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Self.marker)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == Self.marker)
            let stored = try await store.storedBytes()
            #expect(stored.contains(bytes: Data("628123456789:12@s.whatsapp.net".utf8)), "the search works: the identity is stored in clear")
            #expect(!stored.contains(bytes: Self.marker))
            #expect(!stored.contains(bytes: Self.marker.prefix(16)))
            #expect(!stored.contains(bytes: testKeyBytes))
            // Sealed in the documented format: version 1, nonce, ciphertext, tag.
            let sealed = try #require(try await store.sealedCredentials(organization: "org-a", id: "s1"))
            #expect(sealed.first == 1)
            #expect(sealed.count == 1 + 12 + Self.marker.count + 16)
        }
    }

    @Test func sealerBindsOrganizationAndSession() throws {
        let sealer = CredentialSealer(storeKey: testKey)
        let sealed = try sealer.seal(Data("keys".utf8), organization: "org", session: "s1")
        #expect(try sealer.open(sealed, organization: "org", session: "s1") == Data("keys".utf8))
        #expect(throws: StoreError(.credentialsRejected)) { try sealer.open(sealed, organization: "org", session: "s2") }
        // Length prefixes keep ("org", "s1") and ("orgs", "1") apart.
        #expect(throws: StoreError(.credentialsRejected)) { try sealer.open(sealed, organization: "orgs", session: "1") }
        #expect(throws: StoreError(.credentialsRejected)) { try sealer.open(Data(), organization: "org", session: "s1") }
        let otherSealer = CredentialSealer(storeKey: try StoreKey(SymmetricKey(data: Data(repeating: 1, count: 32))))
        #expect(throws: StoreError(.credentialsRejected)) { try otherSealer.open(sealed, organization: "org", session: "s1") }
        // Fresh nonce each time.
        #expect(try sealer.seal(Data("keys".utf8), organization: "org", session: "s1") != sealed)
    }
}
