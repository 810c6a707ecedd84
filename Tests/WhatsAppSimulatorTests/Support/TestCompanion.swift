import Foundation
import WhatsAppProtocol

/// The companion's byte stream, built from the protocol core only: intro header and framing, the Noise
/// XX initiator with the certificate check, then encrypted stanzas. No I/O.
struct CompanionCodec {
    enum Failure: Error, Equatable {
        case certificate(CertificateError)
        case noise(NoiseError)
        case frame(FrameError)
        case notReady
    }

    private var handshake: NoiseHandshake?
    private var transport: NoiseTransport?
    private var writer = FrameWriter()
    private var reader = FrameReader()
    let rootPublicKey: [UInt8]

    init(noiseKey: KeyPair, rootPublicKey: [UInt8]) {
        handshake = NoiseHandshake(staticKey: noiseKey, ephemeralKey: .generate())
        self.rootPublicKey = rootPublicKey
    }

    /// The first message: intro header and ClientHello.
    mutating func clientHello() throws(Failure) -> [UInt8] {
        guard var handshake else { throw .notReady }
        do {
            let ephemeral = try handshake.makeClientHello()
            self.handshake = handshake
            return try writer.frame(NoiseHandshakeMessages.encodeClientHello(ephemeral: ephemeral))
        } catch let error as NoiseError {
            throw .noise(error)
        } catch let error as FrameError {
            throw .frame(error)
        } catch {
            throw .notReady
        }
    }

    /// Frames from received bytes.
    mutating func frames(_ bytes: [UInt8]) throws(Failure) -> [[UInt8]] {
        reader.append(bytes)
        var out: [[UInt8]] = []
        do {
            while let frame = try reader.nextFrame() { out.append(frame) }
        } catch {
            throw .frame(error)
        }
        return out
    }

    /// Reads ServerHello, checks the certificate chain against `rootPublicKey`, and returns the
    /// ClientFinish message carrying `payload`.
    mutating func clientFinish(
        serverHello frame: [UInt8], payload: [UInt8], now: Date = Date()
    ) throws(Failure)
        -> [UInt8]
    {
        guard var handshake else { throw .notReady }
        let peer: NoisePeer
        do {
            peer = try handshake.readServerHello(try NoiseHandshakeMessages.decodeServerHello(frame))
        } catch {
            throw .noise(error)
        }
        do {
            try ServerCertificateVerifier(rootPublicKey: rootPublicKey).verify(
                peer.payload, serverStaticPublicKey: peer.staticKey, now: now)
        } catch {
            self.handshake = nil
            throw .certificate(error)
        }
        let finish: NoiseClientFinish
        do {
            finish = try handshake.makeClientFinish(payload: payload)
            transport = try handshake.split()
        } catch {
            throw .noise(error)
        }
        self.handshake = nil
        do {
            return try writer.frame(NoiseHandshakeMessages.encodeClientFinish(finish))
        } catch {
            throw .frame(error)
        }
    }

    /// The message carrying `node`.
    mutating func seal(_ node: BinaryNode) throws -> [UInt8] {
        guard var transport else { throw Failure.notReady }
        let body = try transport.encrypt(try BinaryXML.encodeFrame(node))
        self.transport = transport
        return try writer.frame(body)
    }

    /// The stanzas in received bytes.
    mutating func open(_ bytes: [UInt8]) throws -> [BinaryNode] {
        guard var transport else { throw Failure.notReady }
        var nodes: [BinaryNode] = []
        for frame in try frames(bytes) {
            nodes.append(try BinaryXML.decodeFrame(try transport.decrypt(frame)))
        }
        self.transport = transport
        return nodes
    }
}

/// The companion's pairing logic (linking spec §4-§6, 2026 §A), as walink's client will do it, from the
/// protocol core: acks, QR rendering, pair-success verification and the pair-device-sign reply, the
/// pairing-code stanzas, the refresh handling.
struct CompanionLogic {
    let credentials: DeviceCredentials
    var adv: AdvSecretState
    var platform = CompanionPlatform.chrome
    /// The code flow's ephemeral key and code, once `companion_hello` is built.
    var codeEphemeral: KeyPair?
    var code: PairingCode?

    init(credentials: DeviceCredentials = .generate()) {
        self.credentials = credentials
        adv = try! AdvSecretState(initial: credentials.advSecretKey)
    }

    var registrationPayload: [UInt8] { ClientPayloadBuilder.registration(credentials: credentials) }

    static func loginPayload(jid: JID) -> [UInt8] {
        ClientPayloadBuilder.login(username: UInt64(jid.user)!, device: UInt32(jid.device))
    }

    /// `<iq to type=result id/>` acknowledging a server iq (pair-device).
    static func ack(iq node: BinaryNode) -> BinaryNode {
        BinaryNode("iq", ["to": .jid(.serverJID), "type": "result", "id": .string(node["id"] ?? "")])
    }

    /// `<ack class=notification id to type/>` for a notification.
    static func ack(notification node: BinaryNode) -> BinaryNode {
        BinaryNode(
            "ack",
            [
                "class": "notification", "id": .string(node["id"] ?? ""), "to": .jid(.serverJID),
                "type": .string(node["type"] ?? ""),
            ])
    }

    /// The QR text (URL form) for `ref` with the current adv secret.
    func qr(ref: String) -> String {
        try! PairingQR(
            ref: ref, noisePublicKey: credentials.noiseKey.publicKey,
            identityPublicKey: credentials.identityKey.publicKey, advSecret: adv.current
        ).deepLink(platform: platform)
    }

    /// The refs of a `pair-device` iq.
    static func refs(_ node: BinaryNode) -> [String] {
        node.child(named: "pair-device")?.children(named: "ref").compactMap(\.contentString) ?? []
    }

    /// Verifies pair-success against the current secret; the reply is `pair-device-sign` or the error iq
    /// whatsmeow sends.
    mutating func answer(pairSuccess node: BinaryNode) -> (reply: BinaryNode, result: Result<PairSuccessCrypto.Verified, PairSuccessError>) {
        let id = node["id"] ?? ""
        let identity = node.child(named: "pair-success")?.child(named: "device-identity")?.contentBytes ?? []
        do {
            let verified = try PairSuccessCrypto.verify(
                deviceIdentity: identity, advSecret: adv.current, identity: credentials.identityKey,
                signatureRandom: (0..<64).map { _ in UInt8.random(in: 0...255) })
            adv.markPaired()
            let reply = BinaryNode(
                "iq", ["to": .jid(.serverJID), "type": "result", "id": .string(id)],
                [
                    BinaryNode(
                        "pair-device-sign", [:],
                        [
                            BinaryNode(
                                "device-identity", ["key-index": .string(String(verified.account.keyIndex))],
                                .bytes(verified.replyDeviceIdentity))
                        ])
                ])
            return (reply, .success(verified))
        } catch {
            let reply = BinaryNode(
                "iq", ["to": .jid(.serverJID), "type": "error", "id": .string(id)],
                [
                    BinaryNode("error", ["code": .string(String(error.replyCode)), "text": .string(error.replyText)])
                ])
            return (reply, .failure(error))
        }
    }

    /// `companion_hello` for `phone` with a fresh code (spec §5.5).
    mutating func companionHello(
        phone: String, id: String, display: String = "Chrome (Linux)", authKey: [UInt8]? = nil,
        wrappedLength: Int = 80
    ) -> BinaryNode {
        let code = try! PairingCode(randomBytes: (0..<5).map { _ in UInt8.random(in: 0...255) })
        let ephemeral = KeyPair.generate()
        self.code = code
        codeEphemeral = ephemeral
        var wrapped = try! PairingCodeCrypto.wrapEphemeralKey(
            ephemeral.publicKey, code: code, salt: random(32), iv: random(16))
        wrapped = Array(wrapped.prefix(wrappedLength))
        return BinaryNode(
            "iq", ["to": .jid(.serverJID), "id": .string(id), "xmlns": "md", "type": "set"],
            [
                BinaryNode(
                    "link_code_companion_reg",
                    [
                        "jid": .jid(JID(user: phone, server: JID.Server.whatsApp)), "stage": "companion_hello",
                        "should_show_push_notification": "true",
                    ],
                    [
                        BinaryNode("link_code_pairing_wrapped_companion_ephemeral_pub", [:], .bytes(wrapped)),
                        BinaryNode("companion_server_auth_key_pub", [:], .bytes(authKey ?? credentials.noiseKey.publicKey)),
                        BinaryNode("companion_platform_id", [:], .string(platform.id)),
                        BinaryNode("companion_platform_display", [:], .string(display)),
                        BinaryNode("link_code_pairing_nonce", [:], .bytes([0])),
                    ])
            ])
    }

    /// The companion's answer to `primary_hello` (spec §5.7): `companion_finish`, adopting the derived
    /// secret.
    mutating func companionFinish(primaryHello node: BinaryNode, phone: String, id: String) throws -> BinaryNode {
        let reg = node.child(named: "link_code_companion_reg")
        guard let code, let codeEphemeral,
            let wrapped = reg?.child(named: "link_code_pairing_wrapped_primary_ephemeral_pub")?.contentBytes,
            let primaryIdentity = reg?.child(named: "primary_identity_pub")?.contentBytes,
            let ref = reg?.child(named: "link_code_pairing_ref")?.contentBytes
        else { throw CompanionCodec.Failure.notReady }
        let finish = try PairingCodeCrypto.companionFinish(
            code: code, companionEphemeral: codeEphemeral, companionIdentity: credentials.identityKey,
            wrappedPrimaryEphemeral: wrapped, primaryIdentityPublicKey: primaryIdentity,
            randomness: .init(advRandom: random(32), bundleSalt: random(32), bundleNonce: random(12)))
        try adv.adoptPairCodeSecret(finish.advSecret)
        return BinaryNode(
            "iq", ["to": .jid(.serverJID), "id": .string(id), "xmlns": "md", "type": "set"],
            [
                BinaryNode(
                    "link_code_companion_reg",
                    ["jid": .jid(JID(user: phone, server: JID.Server.whatsApp)), "stage": "companion_finish"],
                    [
                        BinaryNode("link_code_pairing_wrapped_key_bundle", [:], .bytes(finish.wrappedKeyBundle)),
                        BinaryNode("companion_identity_public", [:], .bytes(credentials.identityKey.publicKey)),
                        BinaryNode("link_code_pairing_ref", [:], .bytes(ref)),
                    ])
            ])
    }

    /// `companion_reg_refresh`: rotate the secret (2026 §A.3).
    mutating func refresh() {
        _ = try? adv.companionRegRefresh(newSecret: random(32))
    }

    func random(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255) }
    }
}
