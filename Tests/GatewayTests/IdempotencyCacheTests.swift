import Testing

@testable import Gateway

/// The answer cache's bookkeeping, without a broker.
@Suite struct IdempotencyCacheTests {
    static let answer = CommandAnswer(status: 200, body: ["ok": true], handled: true)

    @Test func keysDifferingInAnyPartAreDifferentCommands() async {
        let cache = IdempotencyCache(timeToLive: .seconds(3600), capacity: 100)
        let key = IdempotencyCache.Key(command: "c", messageID: "m", credentialsDigest: "alice")
        guard case .execute = await cache.start(key) else {
            Issue.record("a new key must execute")
            return
        }
        cache.complete(key, with: Self.answer)
        guard case .replay(let replayed) = await cache.start(IdempotencyCache.Key(command: "c", messageID: "m", credentialsDigest: "alice")) else {
            Issue.record("the same key must be replayed")
            return
        }
        #expect(replayed == Self.answer)
        for other in [
            IdempotencyCache.Key(command: "c", messageID: "m", credentialsDigest: "mallory"),
            IdempotencyCache.Key(command: "d", messageID: "m", credentialsDigest: "alice"),
            IdempotencyCache.Key(command: "c", messageID: "n", credentialsDigest: "alice"),
            // The parts are hashed apart: moving a character from one to the next is another key.
            IdempotencyCache.Key(command: "cm", messageID: "", credentialsDigest: "alice"),
        ] {
            guard case .execute = await cache.start(other) else {
                Issue.record("\(other) must execute")
                return
            }
        }
        #expect(cache.count == 5)
    }

    @Test func expiredAnswersAreDroppedWithinAFewDozenInserts() async {
        let cache = IdempotencyCache(timeToLive: .zero, capacity: 1_000)
        for index in 0..<40 {
            let key = IdempotencyCache.Key(command: "c", messageID: "\(index)", credentialsDigest: "")
            _ = await cache.start(key)
            cache.complete(key, with: Self.answer)
        }
        // Every answer expired at once; the sweep every 32 inserts dropped them.
        #expect(cache.count < 40 - 30)
    }

    @Test func aDuplicateWaitsForTheFirstCopyAndGetsItsAnswer() async {
        let cache = IdempotencyCache(timeToLive: .seconds(3600), capacity: 100)
        let key = IdempotencyCache.Key(command: "c", messageID: "m", credentialsDigest: "")
        guard case .execute = await cache.start(key) else {
            Issue.record("a new key must execute")
            return
        }
        async let duplicate = cache.start(key)
        // No sleep: the duplicate either waits or, if it comes after completion, replays.
        cache.complete(key, with: Self.answer)
        guard case .replay(let replayed) = await duplicate else {
            Issue.record("the duplicate must be answered")
            return
        }
        #expect(replayed == Self.answer)
    }
}
