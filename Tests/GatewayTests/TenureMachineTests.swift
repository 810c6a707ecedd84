import Foundation
import Store
import TestRandom
import Testing

@testable import Gateway

/// The worker's view of its tenure, in virtual time: instants are fed in, nothing sleeps.
@Suite struct TenureMachineTests {
    let start = ContinuousClock.now
    let w1 = WorkerTenure(worker: "w1", epoch: 1)

    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64(seconds * 1000)) }
    func lease(_ tenure: WorkerTenure) -> WorkerLease { WorkerLease(tenure: tenure, expiresAt: .distantFuture) }

    /// A machine holding `w1`, registered by a request sent at 0 s and answered at 0.1 s.
    func holding() -> TenureMachine {
        var machine = TenureMachine(ttl: .seconds(30))
        #expect(machine.receive(.registered(lease(w1)), to: .register, sentAt: at(0), now: at(0.1)) == nil)
        return machine
    }

    @Test func theDeadlineCountsFromBeforeTheRequestWasSent() {
        var machine = TenureMachine(ttl: .seconds(30))
        #expect(machine.tenure(at: at(0)) == nil)
        #expect(machine.nextRequest(at: at(0))! == (.register, at(0)))
        // Sent at 0 s, answered at 4 s: valid until 0 + 30 - 5 s, not 4 + 30 s.
        #expect(machine.receive(.registered(lease(w1)), to: .register, sentAt: at(0), now: at(4)) == nil)
        #expect(machine.deadline == at(25))
        #expect(machine.tenure(at: at(24.999)) == w1)
        #expect(machine.tenure(at: at(25)) == nil)
        #expect(machine.nextRequest(at: at(4))! == (.renew(w1), at(10)))
    }

    @Test func renewalsMoveTheDeadline() {
        var machine = holding()
        #expect(machine.receive(.renewed(lease(w1)), to: .renew(w1), sentAt: at(10), now: at(10.2)) == nil)
        #expect(machine.deadline == at(35))
        #expect(machine.nextRequest(at: at(10.2))! == (.renew(w1), at(20)))
        #expect(machine.expire(at: at(34.9)) == nil)
        #expect(machine.tenure(at: at(34.9)) == w1)
    }

    @Test func theWatchdogEndsATenureWhoseRenewalHangs() {
        var machine = holding()
        // The renewal sent at 10 s never answers; the watchdog looks at the deadline.
        #expect(machine.expire(at: at(24.9)) == nil)
        #expect(machine.expire(at: at(25)) == w1)
        #expect(machine.tenure(at: at(25)) == nil)
        #expect(machine.state == .unregistered(lapsed: w1, retryAt: nil))
        // The hung renewal finally succeeds: too late, it changes nothing; the next request registers anew.
        #expect(machine.receive(.renewed(lease(w1)), to: .renew(w1), sentAt: at(10), now: at(60)) == nil)
        #expect(machine.tenure(at: at(60)) == nil)
        #expect(machine.nextRequest(at: at(60))! == (.register, at(60)))
        let w2 = WorkerTenure(worker: "w1", epoch: 2)
        #expect(machine.receive(.registered(lease(w2)), to: .register, sentAt: at(60), now: at(60.1)) == nil)
        #expect(machine.tenure(at: at(61)) == w2)
    }

    @Test func aRefusedRenewalLapsesAtOnce() {
        var machine = holding()
        #expect(machine.receive(.renewed(nil), to: .renew(w1), sentAt: at(10), now: at(10.1)) == w1)
        #expect(machine.tenure(at: at(10.1)) == nil)
        #expect(machine.nextRequest(at: at(10.1))! == (.register, at(10.1)))
    }

    @Test func aRenewalAnsweredAfterTheDeadlineLapses() {
        var machine = holding()
        // Sent at 10 s (deadline 35 s) but answered at 36 s, before the watchdog looked.
        #expect(machine.receive(.renewed(lease(w1)), to: .renew(w1), sentAt: at(10), now: at(36)) == w1)
        #expect(machine.tenure(at: at(36)) == nil)
    }

    @Test func failedRenewalsAreRetriedSoonWhileTheTenureHolds() {
        var machine = holding()
        #expect(machine.receive(.failed, to: .renew(w1), sentAt: at(10), now: at(12)) == nil)
        #expect(machine.tenure(at: at(12)) == w1)
        #expect(machine.nextRequest(at: at(12))! == (.renew(w1), at(13)))
        // Failing past the deadline lapses.
        #expect(machine.receive(.failed, to: .renew(w1), sentAt: at(13), now: at(25.5)) == w1)
    }

    @Test func failedRegistrationsAreRetried() {
        var machine = TenureMachine(ttl: .seconds(30))
        #expect(machine.receive(.failed, to: .register, sentAt: at(0), now: at(0.5)) == nil)
        #expect(machine.tenure(at: at(0.5)) == nil)
        #expect(machine.nextRequest(at: at(0.5))! == (.register, at(1.5)))
    }

    @Test func aRegistrationAnsweredTooLateStartsOutLapsed() {
        var machine = TenureMachine(ttl: .seconds(30))
        #expect(machine.receive(.registered(lease(w1)), to: .register, sentAt: at(0), now: at(26)) == w1)
        #expect(machine.tenure(at: at(26)) == nil)
        #expect(machine.nextRequest(at: at(26))! == (.register, at(26)))
    }

    @Test func retiringStopsAllRequests() {
        var machine = holding()
        #expect(machine.retire() == w1)
        #expect(machine.nextRequest(at: at(1)) == nil)
        #expect(machine.tenure(at: at(1)) == nil)
        #expect(machine.receive(.renewed(lease(w1)), to: .renew(w1), sentAt: at(1), now: at(1)) == nil)
        #expect(machine.state == .retired)
    }

    /// Seeded walks through random answers and instants: the machine never trusts a tenure past
    /// sentAt + ttl − margin of the last request the store answered with it.
    @Test(arguments: 0..<50)
    func neverTrustsATenureBeyondItsLastConfirmedDeadline(seed: Int) {
        var random = SeededRandom(seed: UInt64(seed))
        var machine = TenureMachine(ttl: .seconds(30))
        var now = 0.0
        var epoch: Int64 = 0
        var confirmedUntil: Double = -1
        for _ in 0..<200 {
            now += Double(random.next() % 8000) / 1000
            if random.next() % 4 == 0 { _ = machine.expire(at: at(now)) }
            guard let (request, due) = machine.nextRequest(at: at(now)) else { break }
            let sentAt = max(now, (due - start).seconds)
            now = sentAt + Double(random.next() % 6000) / 1000
            let answer: TenureMachine.Answer
            switch (request, random.next() % 5) {
            case (_, 0): answer = .failed
            case (.register, _):
                epoch += 1
                answer = .registered(lease(WorkerTenure(worker: "w1", epoch: epoch)))
            case (.renew, 1): answer = .renewed(nil)
            case (.renew(let tenure), _): answer = .renewed(lease(tenure))
            }
            let before = machine.tenure(at: at(now))
            _ = machine.receive(answer, to: request, sentAt: at(sentAt), now: at(now))
            if let held = machine.tenure(at: at(now)) {
                if case .registered = answer, before == nil { confirmedUntil = sentAt + 25 }
                if case .renewed(let lease?) = answer, lease.tenure == held { confirmedUntil = max(confirmedUntil, sentAt + 25) }
                #expect(now < confirmedUntil + 0.0005, "seed \(seed): trusted \(held) at \(now) beyond \(confirmedUntil)")
                #expect(held.epoch == epoch)
            }
        }
    }
}
