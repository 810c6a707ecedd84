import Foundation
import Store
import Testing

@Suite struct ReplyStoreTests {
    @Test func theFirstAnswerIsKeptUntilItExpires() async throws {
        let clock = TestClock()
        try await withStore(clock: clock) { store, _ in
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

    @Test func keysAreBounded() async throws {
        try await withStore { store, _ in
            await #expect(throws: StoreError(.invalidArgument)) {
                try await store.saveReply(key: "", status: 200, body: Data(), ttl: .seconds(1))
            }
            await #expect(throws: StoreError(.invalidArgument)) {
                try await store.saveReply(key: String(repeating: "k", count: 129), status: 200, body: Data(), ttl: .seconds(1))
            }
        }
    }
}
