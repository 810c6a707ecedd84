import AMQP
import Foundation
import Gateway
import Testing
import WalinkTestSupport

@testable import Gateway

@Suite(.timeLimit(.minutes(5))) struct IdempotencyTests {
    @Test func theSameMessageIDRunsOnceAndIsAnsweredEachTime() async throws {
        let counter = CountingHandler()
        let worker = try await TestWorker.start(handlers: [counter])
        let caller = try TestCaller(names: worker.names)
        let body = "{\"id\":\"once\",\"ms\":200}"
        // Two copies at once (the second arrives while the first runs), then a third later.
        async let first = caller.call("test.count", json: body, messageID: "m-1")
        async let second = caller.call("test.count", json: body, messageID: "m-1")
        let (a, b) = try await (first, second)
        let c = try await caller.call("test.count", json: body, messageID: "m-1")
        for reply in [a, b, c] {
            #expect(reply.status == 200)
            #expect(reply.body.objectValue?["runs"] == 1)
        }
        #expect(counter.count("once") == 1)
        // A different message id is a different command.
        #expect(try await caller.call("test.count", json: body, messageID: "m-2").body.objectValue?["runs"] == 2)
        // Without a message id nothing is deduplicated.
        _ = try await caller.call("test.count", json: body, messageID: nil)
        #expect(counter.count("once") == 3)
        await caller.close()
        await worker.stop()
    }

    @Test func anotherCallerCannotReplayAnAnswerByGuessingItsMessageID() async throws {
        let counter = CountingHandler()
        let worker = try await TestWorker.start(handlers: [counter])
        let caller = try TestCaller(names: worker.names)
        let body = "{\"id\":\"scoped\"}"
        _ = try await caller.call("test.count", json: body, messageID: "shared", headers: ["authorization": .string("Bearer alice")])
        let other = try await caller.call("test.count", json: body, messageID: "shared", headers: ["authorization": .string("Bearer mallory")])
        #expect(other.body.objectValue?["runs"] == 2)
        await caller.close()
        await worker.stop()
    }

    @Test func cacheEvictsBeyondCapacityAndAfterExpiry() async {
        let cache = IdempotencyCache(timeToLive: .seconds(3600), capacity: 3)
        let reply = CommandAnswer(status: 200, body: [:], handled: true)
        for index in 0..<10 {
            let key = IdempotencyCache.Key(command: "c", messageID: "\(index)", credentialsDigest: "")
            guard case .execute = await cache.start(key) else {
                Issue.record("a new key must execute")
                return
            }
            cache.complete(key, with: reply)
        }
        #expect(cache.count <= 4)
        let expired = IdempotencyCache(timeToLive: .zero, capacity: 100)
        let key = IdempotencyCache.Key(command: "c", messageID: "x", credentialsDigest: "")
        _ = await expired.start(key)
        expired.complete(key, with: reply)
        guard case .execute = await expired.start(key) else {
            Issue.record("an expired answer must not be replayed")
            return
        }
    }
}
