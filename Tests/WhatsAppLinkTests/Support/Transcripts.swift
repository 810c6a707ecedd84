import Foundation
import TestVectors
import Testing
import WhatsAppProtocol

/// whatsmeow's transcripts (`Tests/Vectors/whatsmeow-transcripts`): every stanza it exchanged with a test
/// server, decoded from the recorded wire bytes.
struct Transcript {
    enum Direction: String {
        case clientToServer = "client->server"
        case serverToClient = "server->client"
    }

    let name: String
    let stanzas: [(direction: Direction, node: BinaryNode)]

    var serverNodes: [BinaryNode] { stanzas.filter { $0.direction == .serverToClient }.map(\.node) }
    var clientNodes: [BinaryNode] { stanzas.filter { $0.direction == .clientToServer }.map(\.node) }

    static func load(_ name: String) throws -> Transcript {
        var stanzas: [(Direction, BinaryNode)] = []
        for line in try VectorFiles.lines("whatsmeow-transcripts/\(name).jsonl") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let object, let direction = (object["dir"] as? String).flatMap(Direction.init(rawValue:)),
                let raw = object["raw_hex"] as? String
            else { continue }
            stanzas.append((direction, try BinaryXML.decodeFrame(unhex(raw))))
        }
        return Transcript(name: name, stanzas: stanzas)
    }
}

func unhex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

/// Compares a stanza we produced with whatsmeow's by shape: tag, attribute keys, attribute values (except the
/// keys in `ignoringValues`), children in order, and the kind and length of contents (except under the tags
/// in `ignoringContent`, whose values depend on the client profile or on random keys).
func expectSameShape(
    _ ours: BinaryNode, _ theirs: BinaryNode, ignoringValues: Set<String> = [], ignoringContent: Set<String> = [],
    path: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    // Compare what goes over the wire: our node after an encode/decode round trip.
    let ours = (try? BinaryXML.decodeFrame(BinaryXML.encodeFrame(ours))) ?? ours
    let here = path + "/" + theirs.tag
    #expect(ours.tag == theirs.tag, "tag at \(here)", sourceLocation: sourceLocation)
    #expect(
        Set(ours.attributes.map(\.key)) == Set(theirs.attributes.map(\.key)), "attribute keys at \(here)",
        sourceLocation: sourceLocation)
    for attribute in theirs.attributes where !ignoringValues.contains(attribute.key) {
        #expect(
            ours.attributes[attribute.key]?.text == attribute.value.text, "value of \(attribute.key) at \(here)",
            sourceLocation: sourceLocation)
    }
    switch (ours.content, theirs.content) {
    case (.none, .none): break
    case (.nodes(let mine), .nodes(let others)):
        #expect(mine.map(\.tag) == others.map(\.tag), "children of \(here)", sourceLocation: sourceLocation)
        for (mine, other) in zip(mine, others) {
            expectSameShape(
                mine, other, ignoringValues: ignoringValues, ignoringContent: ignoringContent, path: here,
                sourceLocation: sourceLocation)
        }
    default:
        guard !ignoringContent.contains(theirs.tag) else { return }
        #expect(ours.contentBytes != nil && theirs.contentBytes != nil, "content kind at \(here)", sourceLocation: sourceLocation)
        #expect(ours.contentBytes?.count == theirs.contentBytes?.count, "content length at \(here)", sourceLocation: sourceLocation)
    }
}
