import Foundation
import Testing

@testable import Store

@Suite struct OwnershipStoreTests {
    @Test(arguments: StoreKind.allCases)
    func workerTenuresRegisterRenewExpireAndRetire(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            let first = try await store.registerWorker("w1", ttl: .seconds(30))
            #expect(first.tenure == WorkerTenure(worker: "w1", epoch: 1))
            #expect(first.expiresAt == clock.now.addingTimeInterval(30))

            clock.advance(.seconds(20))
            let renewed = try #require(try await store.renewWorker(first.tenure, ttl: .seconds(30)))
            #expect(renewed.tenure == first.tenure)
            #expect(renewed.expiresAt == clock.now.addingTimeInterval(30))

            // Exactly at its expiry the tenure is over, and an expired tenure is not renewed: its
            // sessions may have been taken meanwhile, so the worker must register anew.
            clock.advance(.seconds(30))
            #expect(try await store.renewWorker(first.tenure, ttl: .seconds(30)) == nil)
            let second = try await store.registerWorker("w1", ttl: .seconds(30))
            #expect(second.tenure.epoch == 2)

            // A second process with a live worker id gets a new epoch, which fences the running one.
            let third = try await store.registerWorker("w1", ttl: .seconds(30))
            #expect(third.tenure.epoch == 3)
            #expect(try await store.renewWorker(second.tenure, ttl: .seconds(30)) == nil)
            #expect(try await store.retireWorker(second.tenure) == false)

            #expect(try await store.retireWorker(third.tenure))
            #expect(try await store.renewWorker(third.tenure, ttl: .seconds(30)) == nil)
            #expect(try await store.registerWorker("w1", ttl: .seconds(30)).tenure.epoch == 4, "epochs never repeat, even after retiring")
            #expect(try await store.registerWorker("w2", ttl: .seconds(30)).tenure.epoch == 1, "epochs count per worker")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func sessionsAreClaimedHeldTakenOverAndReleased(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            let w1 = try await store.registerWorker("w1", ttl: .seconds(30)).tenure
            let w2 = try await store.registerWorker("w2", ttl: .seconds(30)).tenure
            #expect(try await store.sessionOwner(organization: "org-a", session: "s1") == nil)

            let claimed = try await store.claimSession(organization: "org-a", session: "s1", by: w1)
            #expect(claimed.isGranted)
            #expect(claimed.ownership.owner == w1)
            #expect(claimed.ownership.acquiredAt == clock.now)
            #expect(try await store.sessionOwner(organization: "org-a", session: "s1") == claimed.ownership)

            // Claiming again is granted with the same record; another worker is told who owns it.
            clock.advance(.seconds(5))
            #expect(try await store.claimSession(organization: "org-a", session: "s1", by: w1) == claimed)
            #expect(try await store.claimSession(organization: "org-a", session: "s1", by: w2) == .heldByAnother(claimed.ownership))
            #expect(try await store.releaseSession(organization: "org-a", session: "s1", by: w2) == false)

            // Renewing the worker lease keeps every session it owns: one write, whatever their number.
            clock.advance(.seconds(20))
            _ = try #require(try await store.renewWorker(w1, ttl: .seconds(30)))
            _ = try #require(try await store.renewWorker(w2, ttl: .seconds(30)))
            clock.advance(.seconds(20))
            #expect(try await store.claimSession(organization: "org-a", session: "s1", by: w2) == .heldByAnother(claimed.ownership))
            _ = try #require(try await store.renewWorker(w2, ttl: .seconds(30)))

            // w1's lease lapses (exactly at its expiry): its sessions are nobody's, and w2 takes s1 over.
            clock.advance(.seconds(10))
            #expect(try await store.sessionOwner(organization: "org-a", session: "s1") == nil)
            let takenOver = try await store.claimSession(organization: "org-a", session: "s1", by: w2)
            #expect(takenOver.isGranted)
            #expect(takenOver.ownership.owner == w2)
            #expect(takenOver.ownership.acquiredAt == clock.now)

            // The lapsed tenure can neither claim nor release; registered anew, it is told w2 owns s1.
            await #expect(throws: StoreError(.leaseLost)) { try await store.claimSession(organization: "org-a", session: "s1", by: w1) }
            #expect(try await store.releaseSession(organization: "org-a", session: "s1", by: w1) == false)
            let w1Again = try await store.registerWorker("w1", ttl: .seconds(30)).tenure
            #expect(try await store.claimSession(organization: "org-a", session: "s1", by: w1Again) == .heldByAnother(takenOver.ownership))

            // Released: free at once.
            #expect(try await store.releaseSession(organization: "org-a", session: "s1", by: w2))
            #expect(try await store.sessionOwner(organization: "org-a", session: "s1") == nil)
            #expect(try await store.claimSession(organization: "org-a", session: "s1", by: w1Again).isGranted)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func retiringFreesEverySessionOfTheTenure(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let w1 = try await store.registerWorker("w1", ttl: .seconds(30)).tenure
            let w2 = try await store.registerWorker("w2", ttl: .seconds(30)).tenure
            for id in ["s1", "s2", "s3"] {
                _ = try await store.createSession(organization: "org-a", id: id, name: nil)
                _ = try await store.claimSession(organization: "org-a", session: id, by: w1)
            }
            #expect(try await store.retireWorker(w1))
            for id in ["s1", "s2", "s3"] {
                #expect(try await store.sessionOwner(organization: "org-a", session: id) == nil)
                #expect(try await store.claimSession(organization: "org-a", session: id, by: w2).isGranted)
            }
        }
    }

    /// A stale owner — lapsed, taken over, or replaced by a newer run of its worker id — writes
    /// nothing: status, pairing, credentials and unpairing all answer `.leaseLost` and change nothing.
    @Test(arguments: StoreKind.allCases)
    func aStaleOwnersWritesChangeNothing(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            let stale = try await store.registerWorker("w1", ttl: .seconds(30)).tenure
            _ = try await store.claimSession(organization: "org-a", session: "s1", by: stale)
            #expect(try await store.setStatus(organization: "org-a", id: "s1", status: .pairing, fence: stale).status == .pairing)

            // The same worker id starts again (a restarted pod): the old run is fenced at once.
            let current = try await store.registerWorker("w1", ttl: .seconds(30)).tenure
            await #expect(throws: StoreError(.leaseLost)) {
                try await store.setStatus(organization: "org-a", id: "s1", status: .failed, fence: stale)
            }
            await #expect(throws: StoreError(.leaseLost)) {
                try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data("k".utf8), fence: stale)
            }
            let before = try #require(try await store.session(organization: "org-a", id: "s1"))
            #expect(before.status == .pairing)
            #expect(before.identity == nil)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == nil)

            // The new run owns nothing until it claims; then its writes go through.
            await #expect(throws: StoreError(.leaseLost)) {
                try await store.setStatus(organization: "org-a", id: "s1", status: .failed, fence: current)
            }
            #expect(try await store.claimSession(organization: "org-a", session: "s1", by: current).isGranted)
            let paired = try await store.markPaired(
                organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data("k".utf8), fence: current)
            #expect(paired.status == .paired)

            // A lapsed lease fences too, also for the owner's credentials and unpairing.
            clock.advance(.seconds(30))
            await #expect(throws: StoreError(.leaseLost)) {
                try await store.replaceCredentials(organization: "org-a", id: "s1", credentials: Data("other".utf8), fence: current)
            }
            await #expect(throws: StoreError(.leaseLost)) {
                try await store.unpair(organization: "org-a", id: "s1", status: .loggedOut, fence: current)
            }
            #expect(try await store.credentials(organization: "org-a", id: "s1") == Data("k".utf8))
            #expect(try await store.session(organization: "org-a", id: "s1")?.status == .paired)

            // Unfenced (administrative) writes still work, and a missing session is `.notFound` first.
            #expect(try await store.unpair(organization: "org-a", id: "s1").status == .loggedOut)
            await #expect(throws: StoreError(.notFound)) {
                try await store.setStatus(organization: "org-a", id: "nope", status: .failed, fence: current)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func ownershipIsValidatedAndScoped(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            let w1 = try await store.registerWorker("w1", ttl: .seconds(30)).tenure
            await #expect(throws: StoreError(.notFound)) { try await store.claimSession(organization: "org-a", session: "nope", by: w1) }
            await #expect(throws: StoreError(.invalidArgument)) { try await store.registerWorker("", ttl: .seconds(1)) }
            await #expect(throws: StoreError(.invalidArgument)) { try await store.registerWorker("w1", ttl: .zero) }
            await #expect(throws: StoreError(.invalidArgument)) { try await store.renewWorker(w1, ttl: .seconds(-5)) }
            _ = try await store.claimSession(organization: "org-a", session: "s1", by: w1)
            #expect(try await store.sessionOwner(organization: "org-b", session: "s1") == nil)
            #expect(try await store.releaseSession(organization: "org-b", session: "s1", by: w1) == false)
            #expect(try await store.sessionOwner(organization: "org-a", session: "s1")?.owner == w1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func ownershipGoesWithItsSession(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            let w1 = try await store.registerWorker("w1", ttl: .seconds(30)).tenure
            _ = try await store.claimSession(organization: "org-a", session: "s1", by: w1)
            try await store.deleteSession(organization: "org-a", id: "s1")
            #expect(try await store.sessionOwner(organization: "org-a", session: "s1") == nil)
            #expect(try await store.releaseSession(organization: "org-a", session: "s1", by: w1) == false)
            await #expect(throws: StoreError(.notFound)) { try await store.claimSession(organization: "org-a", session: "s1", by: w1) }
            // A new session of the same id starts unowned.
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            #expect(try await store.sessionOwner(organization: "org-a", session: "s1") == nil)
        }
    }

    /// Worker ids are compared byte by byte, as SQL compares text: two spellings of one name
    /// are two workers.
    @Test(arguments: StoreKind.allCases)
    func workersAreComparedByTheirBytes(kind: StoreKind) async throws {
        let composed = "w\u{E9}"
        let decomposed = "we\u{301}"
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            let owner = try await store.registerWorker(composed, ttl: .seconds(30)).tenure
            let other = try await store.registerWorker(decomposed, ttl: .seconds(30)).tenure
            #expect(other.epoch == 1, "a worker of its own")
            let held = try await store.claimSession(organization: "org-a", session: "s1", by: owner)
            #expect(try await store.claimSession(organization: "org-a", session: "s1", by: other) == .heldByAnother(held.ownership))
            #expect(try await store.releaseSession(organization: "org-a", session: "s1", by: other) == false)
            await #expect(throws: StoreError(.leaseLost)) {
                try await store.setStatus(organization: "org-a", id: "s1", status: .failed, fence: other)
            }
            #expect(try await store.sessionOwner(organization: "org-a", session: "s1")?.owner.worker.utf8.elementsEqual(composed.utf8) == true)
        }
    }
}
