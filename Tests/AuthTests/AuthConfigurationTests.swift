import Auth
import Foundation
import Testing

/// `AuthConfiguration(environment:)`: every variable, its default, and refusals that name it.
@Suite struct AuthConfigurationTests {
    @Test func defaults() throws {
        let configuration = try AuthConfiguration(environment: [:])
        #expect(configuration.jwksLocation == nil)
        #expect(configuration.jwksCAFile == nil)
        #expect(configuration.issuer == nil)
        #expect(configuration.audiences.isEmpty)
        #expect(configuration.organizationClaim == "org")
        #expect(configuration.roleClaim == "role")
        #expect(configuration.roleCapabilities == ["owner": ["manage"], "admin": ["manage"]])
        #expect(configuration.leeway == .seconds(60))
        #expect(configuration.jwksRefreshInterval == .seconds(600))
        #expect(configuration.jwksMinimumFetchInterval == .seconds(30))
        #expect(configuration.jwksMaxSize == 1 << 20)
        #expect(configuration.maxTokenLength == 8192)
    }

    @Test func everyVariableIsRead() throws {
        let caFile = FileManager.default.temporaryDirectory.appendingPathComponent("walink-ca-\(UUID().uuidString).pem")
        try "placeholder".write(to: caFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: caFile) }
        let configuration = try AuthConfiguration(environment: [
            "WALINK_JWKS_URL": "https://Auth.Example.com:8443/.well-known/jwks.json?v=2",
            "WALINK_JWKS_CA_FILE": caFile.path,
            "WALINK_JWT_ISSUER": "https://auth.example.com/",
            "WALINK_JWT_AUDIENCE": "walink, gateway ,",
            "WALINK_JWT_ORG_CLAIM": "https://example.com/claims.org",
            "WALINK_JWT_ROLE_CLAIM": "roles",
            "WALINK_JWT_ROLE_CAPABILITIES": "owner=manage|billing, admin=manage,viewer=",
            "WALINK_JWT_LEEWAY": "5",
        ])
        #expect(configuration.jwksLocation == .http(.init(usesTLS: true, host: "auth.example.com", port: 8443, target: "/.well-known/jwks.json?v=2")))
        #expect(configuration.jwksLocation?.description == "https://auth.example.com:8443/.well-known/jwks.json")
        #expect(configuration.jwksCAFile == caFile.path)
        #expect(configuration.issuer == "https://auth.example.com/")
        #expect(configuration.audiences == ["walink", "gateway"])
        #expect(configuration.organizationClaim == "https://example.com/claims.org")
        #expect(configuration.roleClaim == "roles")
        #expect(configuration.roleCapabilities == ["owner": ["manage", "billing"], "admin": ["manage"], "viewer": []])
        #expect(configuration.leeway == .seconds(5))
    }

    @Test func keySetLocations() throws {
        func location(_ text: String, http: Bool = false) throws -> JWKSLocation {
            try JWKSLocation.parse(text, allowingLoopbackHTTP: http)
        }
        #expect(try location("https://a.example/jwks") == .http(.init(usesTLS: true, host: "a.example", port: 443, target: "/jwks")))
        #expect(try location("https://a.example") == .http(.init(usesTLS: true, host: "a.example", port: 443, target: "/")))
        #expect(try location("https://a.example?x=1") == .http(.init(usesTLS: true, host: "a.example", port: 443, target: "/?x=1")))
        #expect(try location("https://[::1]:9443/k") == .http(.init(usesTLS: true, host: "::1", port: 9443, target: "/k")))
        #expect(try location("file:/etc/walink/jwks.json") == .file(path: "/etc/walink/jwks.json"))
        #expect(try location("file:///etc/walink/jwks.json") == .file(path: "/etc/walink/jwks.json"))
        #expect(
            try location("http://127.0.0.1:8080/jwks", http: true) == .http(.init(usesTLS: false, host: "127.0.0.1", port: 8080, target: "/jwks")))
        #expect(try location("http://localhost/jwks", http: true) == .http(.init(usesTLS: false, host: "localhost", port: 80, target: "/jwks")))

        let refused = [
            "http://127.0.0.1:8080/jwks",  // plain http needs the test switch
            "ftp://a.example/jwks", "a.example/jwks", "https://", "https://:443/x", "https://a.example:0/x",
            "https://a.example:99999/x", "https://a.example:x/x", "https://user:secret@a.example/jwks",
            "https://a.example/jwks#frag", "https://a.example/jw ks", "https://a_b.example/x", "file:",
            "file://host/path", "https://[::1/x",
        ]
        for text in refused {
            #expect(throws: AuthError(.invalidConfiguration, ""), "\(text)") { try location(text) }
        }
        #expect(throws: AuthError(.invalidConfiguration, "")) { try location("http://10.0.0.1/jwks", http: true) }
        #expect(throws: AuthError(.invalidConfiguration, "")) { try location("http://example.com/jwks", http: true) }
    }

    @Test func badValuesNameTheirVariableAndNotTheirValue() throws {
        let cases: [(String, String)] = [
            ("WALINK_JWKS_URL", "https://user:hunter2@auth.example.com/jwks"),
            ("WALINK_JWKS_CA_FILE", "/nonexistent/hunter2-\(UUID().uuidString).pem"),
            ("WALINK_JWT_LEEWAY", "hunter2"),
            ("WALINK_JWT_LEEWAY", "-1"),
            ("WALINK_JWT_LEEWAY", "601"),
            ("WALINK_JWT_ROLE_CAPABILITIES", "owner"),
            ("WALINK_JWT_ROLE_CAPABILITIES", "owner=manage,owner=hunter2"),
            ("WALINK_JWT_ROLE_CAPABILITIES", "=manage"),
            ("WALINK_JWT_ROLE_CAPABILITIES", "owner=manage||x"),
            ("WALINK_JWT_ORG_CLAIM", "org\u{1}hunter2"),
            ("WALINK_JWT_ROLE_CLAIM", String(repeating: "r", count: 257)),
        ]
        for (name, value) in cases {
            do throws(AuthError) {
                _ = try AuthConfiguration(environment: [name: value])
                Issue.record("\(name)=\(value) was accepted")
            } catch {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains(name), "\(error.message)")
                #expect(!error.message.contains("hunter2"), "\(error.message)")
            }
        }
    }

    @Test func emptyVariablesKeepTheirDefaults() throws {
        let configuration = try AuthConfiguration(environment: [
            "WALINK_JWKS_URL": "", "WALINK_JWT_ISSUER": " ", "WALINK_JWT_AUDIENCE": "", "WALINK_JWT_LEEWAY": "",
            "WALINK_JWT_ORG_CLAIM": "", "WALINK_JWT_ROLE_CAPABILITIES": "",
        ])
        #expect(configuration.jwksLocation == nil)
        #expect(configuration.issuer == nil)
        #expect(configuration.organizationClaim == "org")
        #expect(configuration.roleCapabilities == AuthConfiguration.defaultRoleCapabilities)
        #expect(configuration.leeway == .seconds(60))
    }
}
