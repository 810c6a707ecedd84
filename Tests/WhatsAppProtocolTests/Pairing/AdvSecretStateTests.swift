import Testing
import WhatsAppProtocol

@Suite struct AdvSecretStateTests {
    let first = [UInt8](repeating: 1, count: 32)
    let second = [UInt8](repeating: 2, count: 32)
    let third = [UInt8](repeating: 3, count: 32)

    @Test func refreshReplacesTheSecretEveryTime() throws {
        var state = try AdvSecretState(initial: first)
        #expect(try state.companionRegRefresh(newSecret: second) == .rotated(old: first, new: second))
        #expect(state.current == second)
        // §A.7: no limit on the count.
        #expect(try state.companionRegRefresh(newSecret: third) == .rotated(old: second, new: third))
        #expect(state.current == third)
    }

    @Test func refreshIsDroppedWhilePairCodeSuccessIsPending() throws {
        var state = try AdvSecretState(initial: first)
        try state.adoptPairCodeSecret(second)
        #expect(state.isAwaitingPairCodeSuccess)
        #expect(try state.companionRegRefresh(newSecret: third) == .ignoredPairCodePending)
        #expect(state.current == second)
    }

    @Test func retiringTheStageTwoFlowMintsAFreshSecretAndAllowsRefreshAgain() throws {
        var state = try AdvSecretState(initial: first)
        try state.adoptPairCodeSecret(second)
        try state.retirePairCode(newSecret: third)
        #expect(state.current == third)
        #expect(!state.isAwaitingPairCodeSuccess)
        #expect(try state.companionRegRefresh(newSecret: first) == .rotated(old: third, new: first))
    }

    @Test func nothingRotatesOncePaired() throws {
        var state = try AdvSecretState(initial: first)
        state.markPaired()
        #expect(try state.companionRegRefresh(newSecret: second) == .ignoredAlreadyPaired)
        #expect(state.current == first)
        #expect(throws: AdvSecretError(.alreadyPaired)) { try state.adoptPairCodeSecret(second) }
        #expect(throws: AdvSecretError(.alreadyPaired)) { try state.retirePairCode(newSecret: second) }
    }

    @Test func lengthsAreChecked() throws {
        #expect(throws: AdvSecretError(.invalidLength)) { try AdvSecretState(initial: [1, 2]) }
        var state = try AdvSecretState(initial: first)
        #expect(throws: AdvSecretError(.invalidLength)) { try state.companionRegRefresh(newSecret: []) }
        #expect(throws: AdvSecretError(.invalidLength)) { try state.adoptPairCodeSecret(first + [0]) }
        #expect(state.current == first)
    }

    /// A refresh re-renders the current ref's QR with only the adv secret changed (§A.3 step 4).
    @Test func refreshReRendersTheSameRef() throws {
        var state = try AdvSecretState(initial: first)
        let qr = try PairingQR(ref: "2@ref", noisePublicKey: third, identityPublicKey: third, advSecret: state.current)
        guard case .rotated(_, let new) = try state.companionRegRefresh(newSecret: second) else {
            Issue.record("expected a rotation")
            return
        }
        let parsed = try PairingQR.parse(qr.replacingAdvSecret(new).deepLink(platform: .chrome))
        #expect(parsed.qr.ref == "2@ref")
        #expect(parsed.qr.advSecret == second)
    }
}
