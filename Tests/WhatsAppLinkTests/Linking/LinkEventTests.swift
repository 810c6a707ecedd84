import Foundation
import Testing
import WhatsAppLink
import WhatsAppProtocol

@Suite struct LinkEventTests {
    @Test func descriptionsLeaveSecretsOut() {
        let credentials = DeviceCredentials.generate()
        let qr = "https://wa.me/settings/linked_devices#2@secret-ref,AAAA,BBBB,CCCC,1"
        let device = PairedDevice(
            jid: JID("15550001111:5@s.whatsapp.net")!, lid: nil, platform: "android", businessName: nil,
            pairedAt: Date(timeIntervalSince1970: 0), credentials: credentials, signedDeviceIdentity: [1, 2, 3],
            primaryIdentityKey: [4, 5], keyIndex: 1, clientProps: nil,
            preKeys: [PreKey(id: 1, keyPair: credentials.identityKey)])
        let texts = [
            "\(LinkEvent.qr(code: qr, sequence: 3, expiresAt: Date()))", String(reflecting: LinkEvent.qr(code: qr, sequence: 3, expiresAt: Date())),
            "\(LinkEvent.paired(device))", String(reflecting: LinkEvent.paired(device)), "\(device.preKeys)",
        ]
        let secrets = [credentials.noiseKey.privateKey, credentials.identityKey.privateKey, credentials.advSecretKey]
            .map { $0.map(String.init).joined(separator: ", ") }
        for text in texts {
            #expect(!text.contains("secret-ref"))
            for secret in secrets { #expect(!text.contains(secret)) }
        }
        #expect(texts[0].contains("sequence: 3"))
        #expect(texts[2].contains("15550001111:5@s.whatsapp.net"))
    }
}
