extension BinaryNode: CustomStringConvertible {
    /// XML-like one-line rendering for logs, e.g. `<iq id="1" to="@s.whatsapp.net"><ping/></iq>`.
    /// Byte content is shown only by its size (`<enc>[312 bytes]</enc>`): stanzas carry keys and secrets.
    public var description: String {
        var out = ""
        render(into: &out)
        return out
    }

    private func render(into out: inout String) {
        out += "<" + Self.escaped(tag)
        for attribute in attributes {
            out += " " + Self.escaped(attribute.key) + "=\"" + Self.escaped(attribute.value.text) + "\""
        }
        switch content {
        case .none:
            out += "/>"
            return
        case .nodes(let nodes):
            out += ">"
            for node in nodes { node.render(into: &out) }
        case .bytes(let bytes):
            out += ">[\(bytes.count) bytes]"
        case .string(let string):
            out += ">" + Self.escaped(string)
        case .jid(let jid):
            out += ">" + Self.escaped(jid.description)
        }
        out += "</" + Self.escaped(tag) + ">"
    }

    /// XML escapes plus `\u{..}` for control characters, so a log line stays one readable line.
    private static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { "<>&\"".unicodeScalars.contains($0) || $0.value < 0x20 || $0.value == 0x7F })
        else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
