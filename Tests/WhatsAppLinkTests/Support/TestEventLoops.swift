import NIOPosix

/// Event loops of the WhatsAppLink tests' own, apart from `MultiThreadedEventLoopGroup.singleton`,
/// which the rest of the suite (the simulator, 100-pairing tests, their links) keeps busy: a
/// connection test here then waits for its own loop only. Lives as long as the test process.
enum TestEventLoops {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
}
