import Crypto
import Foundation
import SwiftProtobuf
import TestRandom
import Testing
import WhatsAppProtocol

/// The HMAC container built here with swift-crypto directly, to put a transcript's signed identity under a
/// secret we know (the transcripts do not reveal theirs).
private func container(_ signedIdentity: [UInt8], secret: [UInt8], hosted: Bool = false) throws -> [UInt8] {
    var message = WAADVSignedDeviceIdentityHMAC()
    message.details = Data(signedIdentity)
    if hosted { message.accountType = .hosted }
    let prefix: [UInt8] = hosted ? [0x06, 0x05] : []
    message.hmac = Data(HMAC<SHA256>.authenticationCode(for: prefix + signedIdentity, using: SymmetricKey(data: secret)))
    return try message.serializedBytes()
}

/// `ADVSignedDeviceIdentity` as protobuf bytes, written out field by field (tag, length, value).
private func signedLayout(
    details: [UInt8], key: [UInt8]?, accountSignature: [UInt8], deviceSignature: [UInt8]
)
    -> [UInt8]
{
    var out: [UInt8] = [0x0A, UInt8(details.count)] + details
    if let key { out += [0x12, 0x20] + key }
    return out + [0x1A, 0x40] + accountSignature + [0x22, 0x40] + deviceSignature
}

@Suite struct PairSuccessTranscriptTests {
    static let secret = [UInt8](repeating: 0xA5, count: 32)

    /// The test server's account signature verifies over whatsmeow's identity; whatsmeow's own device
    /// signature verifies over our device-signature message; its reply has the layout we produce.
    @Test(arguments: ["qr-conn1", "code-conn1"])
    func transcriptPairSuccess(name: String) throws {
        let transcript = try PairSuccessTranscript.load(name)
        let original = try WAADVSignedDeviceIdentityHMAC(serializedBytes: transcript.deviceIdentity)
        let rewrapped = try container(Array(original.details), secret: Self.secret)

        let account = try PairSuccessCrypto.verifyAccount(
            deviceIdentity: rewrapped, advSecret: Self.secret, identityPublicKey: transcript.companionIdentityPublicKey)
        #expect(String(account.keyIndex) == transcript.replyKeyIndex)
        #expect(!account.isHostedDevice)
        if let primary = transcript.primaryIdentityPublicKey {
            #expect(account.primaryIdentityPublicKey == primary)
        }

        let wmReply = try WAADVSignedDeviceIdentity(serializedBytes: transcript.replyDeviceIdentity)
        #expect(!wmReply.hasAccountSignatureKey)
        #expect(
            transcript.replyDeviceIdentity
                == signedLayout(
                    details: account.details, key: nil, accountSignature: account.accountSignature,
                    deviceSignature: Array(wmReply.deviceSignature)))
        #expect(
            try PairSuccessCrypto.verifyReply(
                transcript.replyDeviceIdentity, companionIdentityPublicKey: transcript.companionIdentityPublicKey,
                primaryIdentityPublicKey: account.primaryIdentityPublicKey) == account.keyIndex)
    }

    @Test(arguments: ["qr-conn1", "code-conn1"])
    func transcriptRejections(name: String) throws {
        let transcript = try PairSuccessTranscript.load(name)
        // The real container is keyed with a secret we do not hold.
        #expect(throws: PairSuccessError(.hmacMismatch)) {
            try PairSuccessCrypto.verifyAccount(
                deviceIdentity: transcript.deviceIdentity, advSecret: Self.secret,
                identityPublicKey: transcript.companionIdentityPublicKey)
        }
        // Signed for whatsmeow's identity, not for another one.
        let original = try WAADVSignedDeviceIdentityHMAC(serializedBytes: transcript.deviceIdentity)
        let rewrapped = try container(Array(original.details), secret: Self.secret)
        var otherIdentity = transcript.companionIdentityPublicKey
        otherIdentity[5] ^= 0x40
        #expect(throws: PairSuccessError(.signatureMismatch)) {
            try PairSuccessCrypto.verifyAccount(
                deviceIdentity: rewrapped, advSecret: Self.secret, identityPublicKey: otherIdentity)
        }
        // Whatsmeow's device signature is bound to both identities.
        var otherPrimary = try PairSuccessCrypto.verifyAccount(
            deviceIdentity: rewrapped, advSecret: Self.secret, identityPublicKey: transcript.companionIdentityPublicKey
        ).primaryIdentityPublicKey
        otherPrimary[0] ^= 0x01
        #expect(throws: PairSuccessError(.deviceSignatureMismatch)) {
            try PairSuccessCrypto.verifyReply(
                transcript.replyDeviceIdentity, companionIdentityPublicKey: transcript.companionIdentityPublicKey,
                primaryIdentityPublicKey: otherPrimary)
        }
    }
}

@Suite struct PairSuccessTests {
    let primary = try! KeyPair(privateKey: (0..<32).map { UInt8($0 * 7 & 0xFF) })
    let companion = try! KeyPair(privateKey: (0..<32).map { UInt8(($0 * 13 + 5) & 0xFF) })
    let secret = (0..<32).map { UInt8(0xF0 ^ $0) }
    let random = [UInt8](repeating: 0x3C, count: 64)
    let details = PairSuccessCrypto.DeviceDetails(rawID: 2_000_000_123, timestamp: 1_795_588_699, keyIndex: 7)

    func build(
        _ details: PairSuccessCrypto.DeviceDetails? = nil, secret: [UInt8]? = nil,
        fault: PairSuccessCrypto.Fault = .none
    ) throws -> [UInt8] {
        try PairSuccessCrypto.makeDeviceIdentity(
            details: details ?? self.details, primaryIdentity: primary,
            companionIdentityPublicKey: companion.publicKey, advSecret: secret ?? self.secret,
            signatureRandom: random, fault: fault)
    }

    @Test(arguments: [false, true])
    func roundTrip(hosted: Bool) throws {
        var details = self.details
        details.isHosted = hosted
        let bytes = try build(details)
        let verified = try PairSuccessCrypto.verify(
            deviceIdentity: bytes, advSecret: secret, identity: companion, signatureRandom: random)
        let account = verified.account
        #expect(account.keyIndex == 7)
        #expect(account.rawID == 2_000_000_123)
        #expect(account.timestamp == 1_795_588_699)
        #expect(account.isHostedDevice == hosted)
        #expect(account.primaryIdentityPublicKey == primary.publicKey)
        #expect(verified.deviceSignature.count == 64)
        #expect(
            verified.replyDeviceIdentity
                == signedLayout(
                    details: account.details, key: nil, accountSignature: account.accountSignature,
                    deviceSignature: verified.deviceSignature))
        #expect(
            verified.signedDeviceIdentity
                == signedLayout(
                    details: account.details, key: primary.publicKey, accountSignature: account.accountSignature,
                    deviceSignature: verified.deviceSignature))
        #expect(
            try PairSuccessCrypto.verifyReply(
                verified.replyDeviceIdentity, companionIdentityPublicKey: companion.publicKey,
                primaryIdentityPublicKey: primary.publicKey) == 7)
    }

    /// The builder's HMAC and signatures, checked with swift-crypto and XEdDSA directly over the messages
    /// the spec gives (§6.2 steps 2, 5 and 6).
    @Test(arguments: [false, true])
    func builderFollowsTheSpecMessages(hosted: Bool) throws {
        var details = self.details
        details.isHosted = hosted
        let outer = try WAADVSignedDeviceIdentityHMAC(serializedBytes: build(details))
        let hmacPrefix: [UInt8] = hosted ? [0x06, 0x05] : []
        let expectedMAC = HMAC<SHA256>.authenticationCode(
            for: hmacPrefix + Array(outer.details), using: SymmetricKey(data: secret))
        #expect(Array(outer.hmac) == Array(expectedMAC))
        #expect(outer.accountType == (hosted ? .hosted : .e2Ee))

        let signed = try WAADVSignedDeviceIdentity(serializedBytes: outer.details)
        let identity = try WAADVDeviceIdentity(serializedBytes: signed.details)
        #expect(identity.rawID == details.rawID && identity.timestamp == details.timestamp)
        #expect(identity.keyIndex == details.keyIndex)
        #expect(identity.deviceType == (hosted ? .hosted : .e2Ee))
        let accountPrefix: [UInt8] = hosted ? [0x06, 0x05] : [0x06, 0x00]
        #expect(
            XEdDSA.verify(
                Array(signed.accountSignature), of: accountPrefix + Array(signed.details) + companion.publicKey,
                publicKey: primary.publicKey))

        let verified = try PairSuccessCrypto.verify(
            deviceIdentity: build(details), advSecret: secret, identity: companion, signatureRandom: random)
        #expect(
            XEdDSA.verify(
                verified.deviceSignature,
                of: [0x06, 0x01] + Array(signed.details) + companion.publicKey + primary.publicKey,
                publicKey: companion.publicKey))
    }

    @Test func faultsReachTheirErrors() throws {
        let badHMAC = #expect(throws: PairSuccessError.self) {
            try PairSuccessCrypto.verify(
                deviceIdentity: build(fault: .badHMAC), advSecret: secret, identity: companion,
                signatureRandom: random)
        }
        #expect(badHMAC?.code == .hmacMismatch)
        #expect(badHMAC?.replyCode == 401)
        #expect(badHMAC?.replyText == "hmac-mismatch")

        let badSignature = #expect(throws: PairSuccessError.self) {
            try PairSuccessCrypto.verify(
                deviceIdentity: build(fault: .badAccountSignature), advSecret: secret, identity: companion,
                signatureRandom: random)
        }
        #expect(badSignature?.code == .signatureMismatch)
        #expect(badSignature?.replyCode == 401)
        #expect(badSignature?.replyText == "signature-mismatch")
    }

    /// 2026 §A.6: after companion_reg_refresh only the new secret is accepted.
    @Test func onlyTheCurrentSecretIsAccepted() throws {
        var state = try AdvSecretState(initial: secret)
        let scannedBeforeRotation = try build(secret: state.current)
        _ = try state.companionRegRefresh(newSecret: [UInt8](repeating: 0x77, count: 32))
        #expect(throws: PairSuccessError(.hmacMismatch)) {
            try PairSuccessCrypto.verify(
                deviceIdentity: scannedBeforeRotation, advSecret: state.current, identity: companion,
                signatureRandom: random)
        }
        let scannedAfterRotation = try build(secret: state.current)
        #expect(
            try PairSuccessCrypto.verify(
                deviceIdentity: scannedAfterRotation, advSecret: state.current, identity: companion,
                signatureRandom: random
            ).account.keyIndex == 7)
    }

    @Test func hostedPrefixesMatter() throws {
        var hosted = details
        hosted.isHosted = true
        // The HMAC of a HOSTED container covers 06 05 || details: without the flag it no longer matches.
        var outer = try WAADVSignedDeviceIdentityHMAC(serializedBytes: build(hosted))
        outer.clearAccountType()
        #expect(throws: PairSuccessError(.hmacMismatch)) {
            try PairSuccessCrypto.verifyAccount(
                deviceIdentity: try outer.serializedBytes(), advSecret: secret, identityPublicKey: companion.publicKey)
        }
        // A HOSTED device's account signature must use 06 05: one made with 06 00 is refused.
        var identity = WAADVDeviceIdentity()
        identity.rawID = 1
        identity.keyIndex = 1
        identity.deviceType = .hosted
        let detailsBytes: [UInt8] = try identity.serializedBytes()
        var signed = WAADVSignedDeviceIdentity()
        signed.details = Data(detailsBytes)
        signed.accountSignatureKey = Data(primary.publicKey)
        signed.accountSignature = Data(
            try XEdDSA.sign(
                [0x06, 0x00] + detailsBytes + companion.publicKey, privateKey: primary.privateKey,
                random: random))
        #expect(throws: PairSuccessError(.signatureMismatch)) {
            try PairSuccessCrypto.verifyAccount(
                deviceIdentity: container(try signed.serializedBytes(), secret: secret), advSecret: secret,
                identityPublicKey: companion.publicKey)
        }
    }

    @Test func malformedAndWrongLengthInputs() throws {
        func account(_ signedBytes: [UInt8]) throws -> PairSuccessCrypto.VerifiedAccount {
            try PairSuccessCrypto.verifyAccount(
                deviceIdentity: container(signedBytes, secret: secret), advSecret: secret,
                identityPublicKey: companion.publicKey)
        }
        let error = #expect(throws: PairSuccessError.self) {
            try PairSuccessCrypto.verifyAccount(
                deviceIdentity: [0xFF], advSecret: secret, identityPublicKey: companion.publicKey)
        }
        #expect(error?.code == .malformedContainer)
        #expect(error?.replyCode == 500)
        #expect(error?.replyText == "internal-error")
        #expect(throws: PairSuccessError(.malformedSignedIdentity)) { try account([0x0A, 0x05, 0x01]) }

        let good = try WAADVSignedDeviceIdentity(
            serializedBytes: WAADVSignedDeviceIdentityHMAC(serializedBytes: build()).details)
        var garbageDetails = good
        garbageDetails.details = Data([0x08])  // a varint tag with no value
        #expect(throws: PairSuccessError(.malformedDeviceIdentity)) { try account(garbageDetails.serializedBytes()) }

        var prefixedKey = good
        prefixedKey.accountSignatureKey = Data([0x05] + primary.publicKey)
        #expect(throws: PairSuccessError(.invalidAccountSignatureKeyLength)) {
            try account(prefixedKey.serializedBytes())
        }
        var missingKey = good
        missingKey.clearAccountSignatureKey()
        #expect(throws: PairSuccessError(.invalidAccountSignatureKeyLength)) { try account(missingKey.serializedBytes()) }
        var shortSignature = good
        shortSignature.accountSignature = good.accountSignature.dropLast()
        #expect(throws: PairSuccessError(.invalidAccountSignatureLength)) {
            try account(shortSignature.serializedBytes())
        }
        #expect(PairSuccessError(.invalidAccountSignatureLength).replyText == "signature-mismatch")

        #expect(throws: PairSuccessError(.invalidAdvSecretLength)) {
            try PairSuccessCrypto.verify(
                deviceIdentity: build(), advSecret: Array(secret.dropLast()), identity: companion,
                signatureRandom: random)
        }
        #expect(throws: PairSuccessError(.invalidRandomLength)) {
            try PairSuccessCrypto.verify(
                deviceIdentity: build(), advSecret: secret, identity: companion, signatureRandom: Array(random.dropLast()))
        }
        #expect(throws: PairSuccessError(.invalidIdentityKeyLength)) {
            try PairSuccessCrypto.verifyAccount(
                deviceIdentity: build(), advSecret: secret, identityPublicKey: [0x05] + companion.publicKey)
        }
        let verifiedAccount = try PairSuccessCrypto.verifyAccount(
            deviceIdentity: build(), advSecret: secret, identityPublicKey: companion.publicKey)
        #expect(throws: PairSuccessError(.identityMismatch)) {
            try PairSuccessCrypto.sign(verifiedAccount, identity: primary, signatureRandom: random)
        }
    }

    @Test func tamperedReplyIsRefused() throws {
        let verified = try PairSuccessCrypto.verify(
            deviceIdentity: build(), advSecret: secret, identity: companion, signatureRandom: random)
        var reply = verified.replyDeviceIdentity
        reply[reply.count - 10] ^= 0x01
        #expect(throws: PairSuccessError(.deviceSignatureMismatch)) {
            try PairSuccessCrypto.verifyReply(
                reply, companionIdentityPublicKey: companion.publicKey, primaryIdentityPublicKey: primary.publicKey)
        }
        #expect(throws: PairSuccessError(.malformedSignedIdentity)) {
            try PairSuccessCrypto.verifyReply(
                [0x0A, 0x40], companionIdentityPublicKey: companion.publicKey,
                primaryIdentityPublicKey: primary.publicKey)
        }
    }

    /// Random byte edits of a valid container never verify as anything but the original account.
    @Test func mutatedContainersNeverVerifyAsSomethingElse() throws {
        let valid = try build()
        let original = try PairSuccessCrypto.verifyAccount(
            deviceIdentity: valid, advSecret: secret, identityPublicKey: companion.publicKey)
        var generator = PairingRandom(seed: 0xADF)
        for _ in 0..<300 {
            var bytes = valid
            let index = Int.random(in: 0..<bytes.count, using: &generator)
            bytes[index] ^= UInt8.random(in: 1...255, using: &generator)
            do {
                let account = try PairSuccessCrypto.verifyAccount(
                    deviceIdentity: bytes, advSecret: secret, identityPublicKey: companion.publicKey)
                #expect(account.details == original.details)
                #expect(account.accountSignature == original.accountSignature)
                #expect(account.primaryIdentityPublicKey == original.primaryIdentityPublicKey)
            } catch {
                #expect(error.replyCode == 401 || error.replyCode == 500)
            }
        }
    }
}
