import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs tasks on an ``AMQPClient``'s connection thread, between its rounds of reading and writing.
///
/// A task that prefers this executor (`group.addTask(executorPreference: client.executor)`) and
/// works with the connection costs no thread hand-offs: a delivery resumes it on the thread that
/// read the delivery, its publish is written in the same round without waking anyone, and the
/// broker's confirm resumes it there again. Handing each of those steps to Swift's global pool cost
/// more than the rest of a short command: two wake-ups of another thread (a `futex` call and a
/// context switch each), a pipe write to wake the connection thread, and the queueing itself.
///
/// The price is that such tasks share the thread with the connection: they must not block it
/// (waiting on a lock held elsewhere for long, sleeping, blocking I/O) nor compute for long, or
/// every delivery, confirm and heartbeat waits meanwhile. `await`ing is fine: the thread serves the
/// connection until the task is resumed. Jobs queued while the thread is not running (before
/// ``AMQPClient/run()`` started it, or after it ended) run on the global concurrent executor.
public final class AMQPConnectionExecutor: TaskExecutor, Sendable {
    private struct State {
        var jobs: [UnownedJob] = []
        /// The connection thread has ended: jobs go to the global executor.
        var isFinished = false
    }

    private let state = Mutex(State())
    /// The connection thread's id while it runs (0 otherwise).
    private let owner = Atomic<UInt>(0)
    private let wakeup: WakeupPipe

    init(wakeup: WakeupPipe) {
        self.wakeup = wakeup
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unownedJob = UnownedJob(job)
        let onOwner = isOnConnectionThread
        let (accepted, signal) = state.withLock { state -> (Bool, Bool) in
            guard !state.isFinished else { return (false, false) }
            state.jobs.append(unownedJob)
            // One wake-up per batch: when jobs were queued already, the thread is awake or woken.
            // The thread itself looks at its queue before it sleeps.
            return (true, state.jobs.count == 1 && !onOwner)
        }
        if !accepted {
            globalConcurrentExecutor.enqueue(ExecutorJob(unownedJob))
            return
        }
        if signal { wakeup.signal() }
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    // MARK: - The connection thread's side

    /// Whether the calling thread is the connection thread.
    var isOnConnectionThread: Bool {
        let current = Self.currentThreadID
        return current != 0 && owner.load(ordering: .relaxed) == current
    }

    /// The connection thread starts serving jobs.
    func attach() {
        owner.store(Self.currentThreadID, ordering: .relaxed)
    }

    /// The connection thread ends: jobs queued from now on, and those still waiting, go to the
    /// global executor.
    func detach() {
        owner.store(0, ordering: .relaxed)
        let left = state.withLock { state -> [UnownedJob] in
            state.isFinished = true
            defer { state.jobs.removeAll() }
            return state.jobs
        }
        for job in left { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }

    var hasJobs: Bool { state.withLock { !$0.jobs.isEmpty } }

    /// Runs the jobs queued so far, on the connection thread; jobs they queue wait for the next
    /// call, so the connection is served in between. `buffer` is the caller's, reused from round to
    /// round (it must be empty).
    func runJobs(using buffer: inout [UnownedJob]) {
        state.withLock { state in swap(&buffer, &state.jobs) }
        guard !buffer.isEmpty else { return }
        let executor = asUnownedTaskExecutor()
        for job in buffer { job.runSynchronously(on: executor) }
        buffer.removeAll(keepingCapacity: true)
    }

    private static var currentThreadID: UInt {
        #if canImport(Darwin)
        UInt(bitPattern: pthread_self())
        #else
        UInt(pthread_self())
        #endif
    }
}
