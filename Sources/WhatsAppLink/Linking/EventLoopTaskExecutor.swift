import NIOCore

/// Runs a link's tasks on the event loop of its connection. The run loop, the stanza reader and the
/// timers then share one thread: a keepalive, a timer or a stanza resumes the link where it was
/// raised, with no hop to the shared thread pool and back. With 10,000 sessions waiting for a scan
/// those hops (a few per keepalive) were most of the worker's CPU.
///
/// Link tasks only compute briefly and `await` everything else, so the loop is never held up for long.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
