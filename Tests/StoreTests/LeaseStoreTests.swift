import Foundation
import Testing

@testable import Store

@Suite struct LeaseStoreTests {
    @Test(arguments: StoreKind.allCases)
    func acquireContendExpireTakeOverRenewRelease(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            #expect(try await store.leaseOwner(organization: "org-a", session: "s1") == nil)

            let first = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(30))
            #expect(first.isGranted)
            #expect(first.lease.owner == "w1")
            #expect(first.lease.generation == 1)
            #expect(first.lease.expiresAt == clock.now.addingTimeInterval(30))
            #expect(try await store.leaseOwner(organization: "org-a", session: "s1") == first.lease)

            // Another worker is refused while the lease is valid, and told who holds it.
            clock.advance(.seconds(29))
            let contended = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w2", ttl: .seconds(30))
            #expect(contended == .heldByAnother(first.lease))
            #expect(try await store.renewLease(organization: "org-a", session: "s1", worker: "w2", ttl: .seconds(30)) == nil)
            #expect(try await store.releaseLease(organization: "org-a", session: "s1", worker: "w2") == false)

            // The owner renews.
            let renewed = try #require(try await store.renewLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(30)))
            #expect(renewed.owner == "w1")
            #expect(renewed.expiresAt == clock.now.addingTimeInterval(30))
            #expect(renewed.generation == 1)

            // Expiry: exactly at expiresAt the lease is no longer valid.
            clock.advance(.seconds(30))
            #expect(try await store.leaseOwner(organization: "org-a", session: "s1") == nil)
            let takenOver = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w2", ttl: .seconds(10))
            #expect(takenOver.isGranted)
            #expect(takenOver.lease.owner == "w2")
            #expect(takenOver.lease.generation == 2)
            #expect(takenOver.lease.acquiredAt == clock.now)

            // The old owner lost it: no renew, no release, no acquire.
            #expect(try await store.renewLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(30)) == nil)
            #expect(try await store.releaseLease(organization: "org-a", session: "s1", worker: "w1") == false)
            #expect(
                try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(30)) == .heldByAnother(takenOver.lease)
            )

            // Re-acquiring one's own lease extends it without a new generation.
            clock.advance(.seconds(5))
            let again = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w2", ttl: .seconds(10))
            #expect(again.isGranted)
            #expect(again.lease.generation == 2)
            #expect(again.lease.expiresAt == clock.now.addingTimeInterval(10))

            // Release frees it at once.
            #expect(try await store.releaseLease(organization: "org-a", session: "s1", worker: "w2"))
            #expect(try await store.leaseOwner(organization: "org-a", session: "s1") == nil)
            #expect(try await store.renewLease(organization: "org-a", session: "s1", worker: "w2", ttl: .seconds(10)) == nil)
            #expect(try await store.releaseLease(organization: "org-a", session: "s1", worker: "w2") == false)
            let fresh = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(10))
            #expect(fresh.isGranted)
            #expect(fresh.lease.generation == 3, "generations never repeat, even after a release")

            // The owner's own lease after it expired is a new tenure too.
            clock.advance(.seconds(10))
            let afterExpiry = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(10))
            #expect(afterExpiry.isGranted)
            #expect(afterExpiry.lease.generation == 4)
            #expect(afterExpiry.lease.acquiredAt == clock.now)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func expiredLeaseNobodyTookIsRenewable(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            _ = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(1))
            clock.advance(.seconds(5))
            let renewed = try #require(try await store.renewLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(10)))
            #expect(renewed.expiresAt == clock.now.addingTimeInterval(10))
            #expect(try await store.leaseOwner(organization: "org-a", session: "s1")?.owner == "w1")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func leasesAreValidatedAndScoped(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            await #expect(throws: StoreError(.notFound)) {
                try await store.acquireLease(organization: "org-a", session: "nope", worker: "w1", ttl: .seconds(1))
            }
            await #expect(throws: StoreError(.invalidArgument)) {
                try await store.acquireLease(organization: "org-a", session: "s1", worker: "", ttl: .seconds(1))
            }
            await #expect(throws: StoreError(.invalidArgument)) {
                try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .zero)
            }
            await #expect(throws: StoreError(.invalidArgument)) {
                try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(-5))
            }
            _ = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(30))
            #expect(try await store.leaseOwner(organization: "org-b", session: "s1") == nil)
            #expect(try await store.releaseLease(organization: "org-b", session: "s1", worker: "w1") == false)
            #expect(try await store.leaseOwner(organization: "org-a", session: "s1")?.owner == "w1")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func theHolderMayReleaseAnExpiredLeaseNobodyTook(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            let first = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(1))
            clock.advance(.seconds(5))
            #expect(try await store.releaseLease(organization: "org-a", session: "s1", worker: "w2") == false)
            #expect(try await store.releaseLease(organization: "org-a", session: "s1", worker: "w1"))
            // Released: no longer renewable by its old holder, and the next tenure is a new generation.
            #expect(try await store.renewLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(10)) == nil)
            let next = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(10))
            #expect(next.isGranted)
            #expect(next.lease.generation == first.lease.generation + 1)
        }
    }

    /// A released lease is nobody's, even when the clock steps back to before the release and the
    /// record's expiry lies ahead again.
    @Test(arguments: StoreKind.allCases)
    func aReleasedLeaseIsFreeEvenWhenTheClockStepsBack(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            _ = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(30))
            clock.advance(.seconds(5))
            #expect(try await store.releaseLease(organization: "org-a", session: "s1", worker: "w1"))
            clock.advance(.seconds(-3))
            #expect(try await store.leaseOwner(organization: "org-a", session: "s1") == nil)
            let next = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w2", ttl: .seconds(10))
            #expect(next.isGranted)
            #expect(next.lease.owner == "w2")
            #expect(next.lease.generation == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aLeaseGoesWithItsSession(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            _ = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(30))
            try await store.deleteSession(organization: "org-a", id: "s1")
            #expect(try await store.leaseOwner(organization: "org-a", session: "s1") == nil)
            #expect(try await store.renewLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(30)) == nil)
            #expect(try await store.releaseLease(organization: "org-a", session: "s1", worker: "w1") == false)
            await #expect(throws: StoreError(.notFound)) {
                try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(30))
            }
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
            let held = try await store.acquireLease(organization: "org-a", session: "s1", worker: composed, ttl: .seconds(30))
            #expect(
                try await store.acquireLease(organization: "org-a", session: "s1", worker: decomposed, ttl: .seconds(30))
                    == .heldByAnother(held.lease))
            #expect(try await store.renewLease(organization: "org-a", session: "s1", worker: decomposed, ttl: .seconds(30)) == nil)
            #expect(try await store.releaseLease(organization: "org-a", session: "s1", worker: decomposed) == false)
            #expect(try await store.leaseOwner(organization: "org-a", session: "s1")?.owner.utf8.elementsEqual(composed.utf8) == true)
        }
    }
}
