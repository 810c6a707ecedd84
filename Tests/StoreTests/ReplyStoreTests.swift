import Foundation
import Store
import Testing

@Suite struct ReplyStoreTests {
    @Test(arguments: StoreKind.allCases)
    func theFirstAnswerIsKeptUntilItExpires(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            #expect(try await store.reply(key: "k1") == nil)
            try await store.saveReply(key: "k1", status: 201, body: Data("{\"a\":1}".utf8), ttl: .seconds(60))
            try await store.saveReply(key: "k1", status: 409, body: Data("{}".utf8), ttl: .seconds(60))
            #expect(try await store.reply(key: "k1") == StoredReply(status: 201, body: Data("{\"a\":1}".utf8)))
            #expect(try await store.reply(key: "k2") == nil)
            clock.advance(.seconds(61))
            #expect(try await store.reply(key: "k1") == nil)
            // Once expired, the key can be recorded anew.
            try await store.saveReply(key: "k1", status: 200, body: Data(), ttl: .seconds(60))
            #expect(try await store.reply(key: "k1")?.status == 200)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keysAreBounded(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            await #expect(throws: StoreError(.invalidArgument)) {
                try await store.saveReply(key: "", status: 200, body: Data(), ttl: .seconds(1))
            }
            await #expect(throws: StoreError(.invalidArgument)) {
                try await store.saveReply(key: String(repeating: "k", count: 129), status: 200, body: Data(), ttl: .seconds(1))
            }
            for ttl: Duration in [.zero, .seconds(-1), .seconds(86_400 * 366)] {
                await #expect(throws: StoreError(.invalidArgument)) { try await store.saveReply(key: "k", status: 200, body: Data(), ttl: ttl) }
            }
            #expect(try await store.reply(key: "k") == nil)
            // 128 bytes is the most: four-byte characters count by their UTF-8 bytes.
            try await store.saveReply(key: String(repeating: "\u{1F600}", count: 32), status: 204, body: Data(), ttl: .seconds(1))
            await #expect(throws: StoreError(.invalidArgument)) {
                try await store.saveReply(key: String(repeating: "\u{1F600}", count: 33), status: 200, body: Data(), ttl: .seconds(1))
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func expiredAnswersAreForgottenAndKeysAreExact(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            try await store.saveReply(key: "short", status: 200, body: Data("a".utf8), ttl: .seconds(10))
            try await store.saveReply(key: "long", status: 201, body: Data("b".utf8), ttl: .seconds(100))
            // Exactly at the expiry the answer is gone; the longer one stays.
            clock.advance(.seconds(10))
            #expect(try await store.reply(key: "short") == nil)
            #expect(try await store.reply(key: "long") == StoredReply(status: 201, body: Data("b".utf8)))

            // Keys are compared by their bytes.
            try await store.saveReply(key: "caf\u{E9}", status: 200, body: Data(), ttl: .seconds(10))
            #expect(try await store.reply(key: "cafe\u{301}") == nil)
            try await store.saveReply(key: "cafe\u{301}", status: 202, body: Data(), ttl: .seconds(10))
            #expect(try await store.reply(key: "caf\u{E9}")?.status == 200)
            #expect(try await store.reply(key: "cafe\u{301}")?.status == 202)
        }
    }
}
