extension Duration {
    /// Whole milliseconds, rounded down (negative durations round toward zero).
    var wholeMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }

    /// Whole milliseconds, rounded up: a TTL that never cuts a message's life short by rounding.
    var wholeMillisecondsRoundedUp: Int64 {
        let down = wholeMilliseconds
        return self > .milliseconds(down) ? down + 1 : down
    }
}
