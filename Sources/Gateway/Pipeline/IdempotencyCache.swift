import Synchronization

/// Remembers the answers to commands that carried a `message_id`, so that a redelivered command
/// (after a lost connection, a broker restart or a worker crash before the ack) is answered again
/// without running twice. A duplicate that arrives while the first copy still runs waits for it.
///
/// Keys include the caller's credentials digest, so one caller can never replay another's answer
/// by guessing its message id. Entries expire after `timeToLive`; at most `capacity` are kept.
final class IdempotencyCache: Sendable {
    struct Key: Hashable, Sendable {
        let command: String
        let messageID: String
        let credentialsDigest: String
        /// The three strings hashed once (with the process's random seed, like any `Hasher`): the
        /// dictionary hashes a key at every lookup, insert, completion and eviction, and hashing
        /// this one word instead of three strings made those the bulk of the cache's cost.
        private let hash: Int

        init(command: String, messageID: String, credentialsDigest: String) {
            self.command = command
            self.messageID = messageID
            self.credentialsDigest = credentialsDigest
            var hasher = Hasher()
            hasher.combine(command)
            hasher.combine(messageID)
            hasher.combine(credentialsDigest)
            hash = hasher.finalize()
        }

        func hash(into hasher: inout Hasher) { hasher.combine(hash) }

        static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.hash == rhs.hash && lhs.messageID == rhs.messageID && lhs.command == rhs.command
                && lhs.credentialsDigest == rhs.credentialsDigest
        }
    }

    enum Start: Sendable {
        /// First time: run the command, then call ``complete(_:with:)``.
        case execute
        /// Seen before: answer with this.
        case replay(CommandAnswer)
    }

    private enum Entry {
        /// Only while ``start(_:)`` decides about a key it has just inserted: never stored.
        case inserting
        case running(waiters: [CheckedContinuation<CommandAnswer?, Never>])
        case done(CommandAnswer, expires: ContinuousClock.Instant)
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Insertion order, for eviction: a queue whose live part is `order[head...]`. Evicting
        /// from the front moves `head` instead of shifting the whole array, which at 100,000
        /// entries cost far more than running the command.
        var order: [Key] = []
        var head = 0
        /// Inserts since expired entries were last looked for (see ``evict(_:now:)``).
        var insertsSinceEviction = 0
    }

    private let state = Mutex(State())
    let timeToLive: Duration
    let capacity: Int

    init(timeToLive: Duration, capacity: Int) {
        self.timeToLive = timeToLive
        self.capacity = capacity
    }

    private enum Decision {
        case execute
        case replay(CommandAnswer)
        case wait
    }

    /// Decides at once whether to run or replay the command; nil when its first copy still runs
    /// (then ``waitForFirstCopy(_:)``). Synchronous, so that the usual case costs no async call.
    func begin(_ key: Key) -> Start? {
        let now = ContinuousClock.now
        return state.withLock { state -> Start? in
            // One hash lookup: a missing key is inserted and decided about in place.
            var decision = Decision.execute
            var isNew = false
            Self.decide(&state.entries[key, default: .inserting], now: now, decision: &decision, isNew: &isNew)
            if isNew {
                state.order.append(key)
                state.insertsSinceEviction += 1
                evict(&state, now: now)
            }
            switch decision {
            case .execute: return .execute
            case .replay(let reply): return .replay(reply)
            case .wait: return nil
            }
        }
    }

    nonisolated(nonsending) func start(_ key: Key) async -> Start {
        if let decided = begin(key) { return decided }
        return await waitForFirstCopy(key)
    }

    /// Waits for the first copy of a command that is still running, and answers like it.
    nonisolated(nonsending) func waitForFirstCopy(_ key: Key) async -> Start {
        let reply = await withCheckedContinuation { (continuation: CheckedContinuation<CommandAnswer?, Never>) in
            let immediate = state.withLock { state -> CommandAnswer?? in
                switch state.entries[key] {
                case .running(var waiters):
                    waiters.append(continuation)
                    state.entries[key] = .running(waiters: waiters)
                    return .none
                case .done(let reply, _):
                    return .some(reply)
                case nil, .inserting:
                    return .some(nil)
                }
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
        // The first copy was abandoned: run this one.
        guard let reply else { return await start(key) }
        return .replay(reply)
    }

    private static func decide(_ entry: inout Entry, now: ContinuousClock.Instant, decision: inout Decision, isNew: inout Bool) {
        switch entry {
        case .done(let reply, let expires) where expires > now:
            decision = .replay(reply)
        case .running:
            decision = .wait
        case .inserting, .done:
            // New, or expired: run it (an expired key gets a second slot in the eviction order).
            entry = .running(waiters: [])
            decision = .execute
            isNew = true
        }
    }

    func complete(_ key: Key, with reply: CommandAnswer) {
        let expires = ContinuousClock.now.advanced(by: timeToLive)
        let waiters = state.withLock { state -> [CheckedContinuation<CommandAnswer?, Never>] in
            // Found once, changed in place.
            guard let index = state.entries.index(forKey: key), case .running(let waiters) = state.entries.values[index] else { return [] }
            state.entries.values[index] = .done(reply, expires: expires)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: reply) }
    }

    /// The command could not run to an answer (for example shutdown); a duplicate may run it.
    func abandon(_ key: Key) {
        let waiters = state.withLock { state -> [CheckedContinuation<CommandAnswer?, Never>] in
            guard case .running(let waiters) = state.entries[key] else { return [] }
            state.entries[key] = nil
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    var count: Int { state.withLock { $0.entries.count } }

    private func evict(_ state: inout State, now: ContinuousClock.Instant) {
        // Drop expired entries from the front, then the oldest finished ones beyond capacity. A
        // command still running cannot go yet: it moves to the back and is looked at again later.
        // Expired entries are looked for every 32 inserts only (an expired answer is never replayed
        // anyway, and looking costs a lookup per command); the capacity is kept at every insert.
        guard state.entries.count > capacity || state.insertsSinceEviction >= 32 else { return }
        state.insertsSinceEviction = 0
        var steps = state.order.count - state.head
        while steps > 0 {
            let key = state.order[state.head]
            let entry = state.entries[key]
            guard state.entries.count > capacity || isExpired(entry, now) else { break }
            steps -= 1
            state.head += 1
            switch entry {
            case .running: state.order.append(key)
            case .done: state.entries[key] = nil
            case nil, .inserting: break  // abandoned, or a second slot of a key that was run again
            }
        }
        let live = state.order.count - state.head
        if live > state.entries.count * 2 + 16 {
            state.order = state.order[state.head...].filter { state.entries[$0] != nil }
            state.head = 0
        } else if state.head >= 1024, state.head * 2 >= state.order.count {
            state.order.removeSubrange(..<state.head)
            state.head = 0
        }
    }

    private func isExpired(_ entry: Entry?, _ now: ContinuousClock.Instant) -> Bool {
        switch entry {
        case .done(_, let expires): expires <= now
        case .running: false
        case nil, .inserting: true
        }
    }
}
