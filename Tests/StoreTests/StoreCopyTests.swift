import Foundation
import StoreFactory
import Testing

@testable import Store
@testable import StorePostgres

/// `walink store copy`: an SQLite deployment moves into PostgreSQL with every session, identity,
/// credential and API key, re-sealed under the target's key.
@Suite struct StoreCopyTests {
    @Test func anSQLiteDeploymentMovesIntoPostgres() async throws {
        try await withTemporaryDatabase { path in
            let sourceKey = StoreKey.random()
            let source = try await SQLiteStore.open(path: path, key: .key(sourceKey))
            _ = try await source.createSession(organization: "org-a", id: "plain", name: "Plain")
            _ = try await source.createSession(organization: "org-a", id: "linking", name: nil)
            _ = try await source.setStatus(organization: "org-a", id: "linking", status: .pairing)
            _ = try await source.createSession(organization: "org-b", id: "paired", name: nil)
            let credentials = Data("device keys".utf8)
            _ = try await source.markPaired(organization: "org-b", id: "paired", identity: sampleIdentity, credentials: credentials)
            let kept = try await source.createAPIKey(organization: "org-a", name: "ci", permissions: ["manage"])
            let revoked = try await source.createAPIKey(organization: "org-b", name: nil, permissions: ["read"])
            _ = try await source.revokeAPIKey(organization: "org-b", id: revoked.record.id)
            let before = try await source.exportContents()
            await source.close()

            try await TestPostgres.withDatabase { settings in
                let targetKey = StoreKey.random()
                var sourceConfiguration = StoreConfiguration(location: .sqlite(path: path), key: .key(sourceKey))
                sourceConfiguration.timeout = .seconds(120)
                var targetConfiguration = StoreConfiguration(location: .postgres(settings), key: .key(targetKey))
                targetConfiguration.timeout = .seconds(120)
                let copied = try await StoreCopier.copy(from: sourceConfiguration, to: targetConfiguration)
                #expect(copied.sessions.count == 3)
                #expect(copied.apiKeys.count == 2)

                let target = try await TestPostgres.open(settings, key: targetKey)
                try await closing(target) { target in
                    for record in before.sessions {
                        let session = try #require(try await target.session(organization: record.session.organization, id: record.session.id))
                        var expected = record.session
                        if expected.status == .pairing { expected.status = .created }
                        #expect(session == expected)
                        #expect(try await target.credentials(organization: session.organization, id: session.id) == record.credentials)
                    }
                    #expect(try await target.credentials(organization: "org-b", id: "paired") == credentials)
                    // The keys still work (and the revoked one stays revoked) by their plaintext.
                    #expect(try await target.lookupAPIKey(kept.key) == kept.record)
                    #expect(try await target.lookupAPIKey(revoked.key)?.isRevoked == true)
                    // Sealed under the target's key: the source's key does not open them.
                    let sealed = try #require(try await target.sealedCredentials(organization: "org-b", id: "paired"))
                    #expect(throws: StoreError(.credentialsRejected)) {
                        try CredentialSealer(storeKey: sourceKey).open(sealed, organization: "org-b", session: "paired")
                    }
                }
                // Never into a store that is in use.
                await #expect(throws: StoreError(.conflict)) { try await StoreCopier.copy(from: sourceConfiguration, to: targetConfiguration) }
            }
        }
    }
}
