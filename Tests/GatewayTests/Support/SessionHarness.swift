import AMQP
import Auth
import Crypto
import Foundation
import Gateway
import Store
import WalinkTestSupport

/// A worker with a real SQLite store and real authentication (API keys from the store, login JWTs
/// against a JWKS file), plus keys for two organizations.
struct SessionHarness {
    let worker: TestWorker
    let caller: TestCaller
    let store: any WalinkStore
    let directory: URL
    /// `manage` in org `acme`, `read` only in `acme`, `manage` in `globex`, and a revoked one.
    let acmeKey: String
    let acmeReadOnlyKey: String
    let globexKey: String
    let revokedKey: String
    let jwtKey: P256.Signing.PrivateKey

    static func start() async throws -> SessionHarness {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-sessions-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try await SQLiteStore.open(path: directory.appendingPathComponent("walink.db").path, key: .key(.random()))
        let acme = try await store.createAPIKey(organization: "acme", name: "ops", permissions: ["manage"]).key
        let readOnly = try await store.createAPIKey(organization: "acme", name: "viewer", permissions: ["read"]).key
        let globex = try await store.createAPIKey(organization: "globex", name: nil, permissions: ["manage"]).key
        let revoked = try await store.createAPIKey(organization: "acme", name: "old", permissions: ["manage"])
        _ = try await store.revokeAPIKey(organization: "acme", id: revoked.record.id)

        let jwtKey = P256.Signing.PrivateKey()
        let raw = jwtKey.publicKey.rawRepresentation
        let jwks: JSONValue = [
            "keys": [
                [
                    "kty": "EC", "crv": "P-256", "kid": "test-1", "use": "sig", "alg": "ES256",
                    "x": .string(base64URL(raw.prefix(32))), "y": .string(base64URL(raw.suffix(32))),
                ]
            ]
        ]
        let jwksFile = directory.appendingPathComponent("jwks.json")
        try Data(jwks.serialized).write(to: jwksFile)
        let configuration = try AuthConfiguration(environment: ["WALINK_JWKS_URL": "file:\(jwksFile.path)"])
        let callers = try CallerAuthenticator(configuration: configuration, apiKeys: StoreAPIKeyResolver(store: store))
        let worker = try await TestWorker.start(store: store, authenticator: GatewayAuthenticator(callers: callers))
        let caller = try TestCaller(names: worker.names)
        return SessionHarness(
            worker: worker, caller: caller, store: store, directory: directory,
            acmeKey: acme, acmeReadOnlyKey: readOnly, globexKey: globex, revokedKey: revoked.key, jwtKey: jwtKey
        )
    }

    func stop() async {
        await caller.close()
        await worker.stop()
        await store.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Calls a command with `Bearer <token>` (none when nil).
    func call(_ command: String, _ body: JSONValue = [:], token: String?) async throws -> TestCaller.Reply {
        var headers: AMQPTable = [:]
        if let token { headers["authorization"] = .string("Bearer \(token)") }
        return try await caller.call(command, json: body.text, headers: headers)
    }

    /// A login JWT signed with the JWKS key.
    func jwt(org: String, role: String, expiresIn: TimeInterval = 300) -> String {
        let header: JSONValue = ["alg": "ES256", "typ": "JWT", "kid": "test-1"]
        let now = Int64(Date().timeIntervalSince1970)
        let claims: JSONValue = ["sub": "user-1", "org": .string(org), "role": .string(role), "iat": .int(now), "exp": .int(now + Int64(expiresIn))]
        let input = base64URL(header.serialized) + "." + base64URL(claims.serialized)
        let signature = try! jwtKey.signature(for: Data(input.utf8)).rawRepresentation
        return input + "." + base64URL(signature)
    }
}

func base64URL(_ bytes: some DataProtocol) -> String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}
