/// Which node the connection thread connects to next. I/O-free.
///
/// The configured nodes are shuffled once, when the client is made, so that a fleet of workers
/// started with the same URL spreads over the cluster; after that the client goes round that order,
/// one node further at every reconnect (a node that dropped us is the least likely to take us back
/// at once). Failed connection attempts move on at once while the round lasts; only a whole round
/// of failed nodes calls for a backoff.
struct NodeRotation {
    let order: [AMQPConfiguration.Node]
    private var index = 0
    /// Failed attempts in a row since the last connection or the last full round.
    private var failuresInRound = 0

    init<R: RandomNumberGenerator>(nodes: [AMQPConfiguration.Node], using generator: inout R) {
        precondition(!nodes.isEmpty)
        order = nodes.shuffled(using: &generator)
    }

    init(nodes: [AMQPConfiguration.Node]) {
        var generator = SystemRandomNumberGenerator()
        self.init(nodes: nodes, using: &generator)
    }

    /// The node to connect to now.
    var current: AMQPConfiguration.Node { order[index] }

    /// A connection to ``current`` was established.
    mutating func connected() {
        failuresInRound = 0
    }

    /// An established connection was lost: the next attempt goes to the next node.
    mutating func connectionLost() {
        failuresInRound = 0
        advance()
    }

    /// An attempt to connect to ``current`` failed; moves on to the next node. True when that
    /// completed a round in which every node failed: the caller backs off before the next round.
    mutating func attemptFailed() -> Bool {
        advance()
        failuresInRound += 1
        guard failuresInRound >= order.count else { return false }
        failuresInRound = 0
        return true
    }

    private mutating func advance() {
        index = (index + 1) % order.count
    }
}
