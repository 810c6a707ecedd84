import Foundation
import SwiftProtobuf
import TestRandom
import Testing
import WhatsAppProtocol

/// Hostile chains never crash the verifier, and no mutation gets a chain accepted unless what the signatures
/// cover is unchanged.
struct CertificateFuzzTests {
    @Test func mutatedChainsAreRejectedOrUnchangedInSubstance() throws {
        let vector = try CertificateVectorTests.vector()
        let verifier = try ServerCertificateVerifier(rootPublicKey: vector.root)
        let valid = try #require(vector.cases.first { $0.valid }).chain
        let original = try WACertChain(serializedBytes: valid)
        var random = ProtobufFuzzRandom(seed: 0xCE27_0001)
        var accepted = 0
        var codes: Set<String> = []
        for round in 0..<1200 {
            let seed = round % 4 == 0 ? vector.cases.randomElement(using: &random)!.chain : valid
            let input = random.mutate(seed)
            do throws(CertificateError) {
                try verifier.verify(input, serverStaticPublicKey: vector.serverStatic, now: vector.now)
            } catch {
                codes.insert(error.code.description)
                continue
            }
            accepted += 1
            let parsed = try WACertChain(serializedBytes: input)
            #expect(parsed.leaf.details == original.leaf.details && parsed.leaf.signature == original.leaf.signature)
            #expect(
                parsed.intermediate.details == original.intermediate.details
                    && parsed.intermediate.signature == original.intermediate.signature)
        }
        // The mutations reached several different checks, not just the parser.
        #expect(codes.count >= 4, "\(codes.sorted())")
        #expect(accepted < 1200)
    }

    @Test func randomBytesAndRandomChainsAreRejected() throws {
        let vector = try CertificateVectorTests.vector()
        let verifier = try ServerCertificateVerifier(rootPublicKey: vector.root)
        var random = ProtobufFuzzRandom(seed: 0xCE27_0002)
        for _ in 0..<3000 {
            let input = random.bytes(Int.random(in: 0...300, using: &random))
            #expect(throws: CertificateError.self) {
                try verifier.verify(input, serverStaticPublicKey: vector.serverStatic, now: vector.now)
            }
        }
        // Well-formed chains with random content get past the parser and must still fail.
        for _ in 0..<400 {
            var chain = WACertChain()
            chain.leaf.details = Data(random.bytes(Int.random(in: 0...80, using: &random)))
            chain.leaf.signature = Data(random.bytes(Bool.random(using: &random) ? 64 : Int.random(in: 0...70, using: &random)))
            chain.intermediate.details = Data(random.bytes(Int.random(in: 0...80, using: &random)))
            chain.intermediate.signature = Data(random.bytes(64))
            let input: [UInt8] = try chain.serializedBytes()
            #expect(throws: CertificateError.self) {
                try verifier.verify(input, serverStaticPublicKey: vector.serverStatic, now: vector.now)
            }
        }
    }
}
