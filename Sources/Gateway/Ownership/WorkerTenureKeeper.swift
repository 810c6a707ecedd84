import Logging
import Store
import Synchronization

/// Keeps this worker's tenure in the store: registers at start (a new epoch), renews one lease per
/// interval whatever the number of sessions owned, and — on a watchdog of its own, independent of
/// any store call that may hang — declares the tenure lapsed at its local deadline, so the links it
/// owns close before the store lets another worker take their sessions.
final class WorkerTenureKeeper: Sendable {
    private struct Shared {
        var machine: TenureMachine
        /// Waiting for the next registration's answer.
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID = 0
    }

    let workerID: String
    private let store: any OwnershipStore
    private let logger: Logger
    private let shared: Mutex<Shared>

    init(workerID: String, store: any OwnershipStore, ttl: Duration, logger: Logger) {
        self.workerID = workerID
        self.store = store
        self.logger = logger
        shared = Mutex(Shared(machine: TenureMachine(ttl: ttl)))
    }

    /// The tenure to own sessions with now. While none holds (starting, or registering anew after
    /// a lapse), waits up to `patience` for the registration under way; nil when none came.
    func tenure(patience: Duration) async -> WorkerTenure? {
        if let held = shared.withLock({ $0.machine.tenure(at: .now) }) { return held }
        _ = await withTimeLimit(patience) { await self.nextRegistrationAnswer() }
        return shared.withLock { $0.machine.tenure(at: .now) }
    }

    /// Waits until a tenure holds (or the task is cancelled).
    func waitForTenure() async -> WorkerTenure? {
        while !Task.isCancelled {
            if let held = shared.withLock({ $0.machine.tenure(at: .now) }) { return held }
            await nextRegistrationAnswer()
        }
        return nil
    }

    private func nextRegistrationAnswer() async {
        let id = shared.withLock { shared in
            shared.nextWaiterID += 1
            return shared.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = shared.withLock { shared in
                    guard !Task.isCancelled, shared.machine.state != .retired else { return true }
                    shared.waiters[id] = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            shared.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Renews and watches until cancelled; `onLapse` is told each tenure that lapsed.
    func run(onLapse: @escaping @Sendable (WorkerTenure) -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.renewals(onLapse: onLapse) }
            group.addTask { await self.watchdog(onLapse: onLapse) }
            await group.next()
            group.cancelAll()
        }
        answerWaiters()
    }

    /// Ends the tenure in the store (its sessions become free at once). Call after the links stopped.
    func retire() async {
        let tenure = shared.withLock { $0.machine.retire() }
        answerWaiters()
        guard let tenure else { return }
        do {
            _ = try await store.retireWorker(tenure)
        } catch {
            logger.warning("Could not retire this worker's tenure; it expires by itself", metadata: ["walink.error": "\(error)"])
        }
    }

    private func renewals(onLapse: @Sendable (WorkerTenure) -> Void) async {
        let ttl = shared.withLock { $0.machine.ttl }
        while !Task.isCancelled {
            guard let (request, due) = shared.withLock({ $0.machine.nextRequest(at: .now) }) else { return }
            do {
                try await Task.sleep(until: due, clock: .continuous)
            } catch {
                return
            }
            let sentAt = ContinuousClock.now
            let answer: TenureMachine.Answer
            do {
                switch request {
                case .register: answer = .registered(try await store.registerWorker(workerID, ttl: ttl))
                case .renew(let tenure): answer = .renewed(try await store.renewWorker(tenure, ttl: ttl))
                }
            } catch {
                logger.warning("Worker lease request failed", metadata: ["walink.error": "\(error)"])
                answer = .failed
            }
            let lapsed = shared.withLock { $0.machine.receive(answer, to: request, sentAt: sentAt, now: .now) }
            if case .registered(let lease) = answer, lapsed == nil {
                logger.info("Worker tenure registered", metadata: ["walink.tenure": "\(lease.tenure)"])
            }
            if request == .register { answerWaiters() }
            if let lapsed { report(lapsed, onLapse) }
        }
    }

    private func watchdog(onLapse: @Sendable (WorkerTenure) -> Void) async {
        let interval = shared.withLock { $0.machine.renewalInterval }
        while !Task.isCancelled {
            // Without a tenure there is nothing to watch; look again an interval later.
            let deadline = shared.withLock { $0.machine.deadline } ?? .now + interval
            do {
                try await Task.sleep(until: deadline, clock: .continuous)
            } catch {
                return
            }
            if let lapsed = shared.withLock({ $0.machine.expire(at: .now) }) { report(lapsed, onLapse) }
        }
    }

    private func report(_ tenure: WorkerTenure, _ onLapse: (WorkerTenure) -> Void) {
        logger.warning("Worker tenure lapsed; stopping the links it owns", metadata: ["walink.tenure": "\(tenure)"])
        onLapse(tenure)
    }

    private func answerWaiters() {
        let waiters = shared.withLock { shared in
            defer { shared.waiters = [:] }
            return Array(shared.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }
}
