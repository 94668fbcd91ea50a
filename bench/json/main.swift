import AirlockJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The request path's JSON work, old reader against new, on the same bodies in one run, as RequestShape does it:
// validate the whole body (duplicate names refused at any depth), decode the top-level names, find the fields the
// router reads and look one up by path.
// LegacyJSONScanner is the router's JSONScanner before AirlockJSON, extracted from git by run.sh.

func now() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

let fields = ["model", "stream", "max_tokens", "max_completion_tokens", "stream_options", "n", "tools"]

/// What the bench needs of a reader; both scanners have these members under the same names.
protocol RequestReader {
    associatedtype Span: SpanBounds
    init(body: [UInt8])
    func validateDocument() throws -> Span
    func members(of object: Span) -> [(key: Span, value: Span)]
    func string(_ span: Span) -> String?
    func value(at path: [String], in root: Span) -> Span?
    func bool(_ span: Span) -> Bool?
}

protocol SpanBounds {
    var start: Int { get }
    var end: Int { get }
}

extension JSONScanner: RequestReader {
    init(body: [UInt8]) { self.init(body) }
}
extension JSONScanner.Span: SpanBounds {}
extension LegacyJSONScanner: RequestReader {
    init(body: [UInt8]) { self.init(body, rejectDuplicateNames: true) }
}
extension LegacyJSONScanner.Span: SpanBounds {}

@inline(never)
func read<Reader: RequestReader>(_: Reader.Type, _ body: [UInt8]) -> Int {
    let scanner = Reader(body: body)
    guard let root = try? scanner.validateDocument() else { fatalError("\(Reader.self) refused the body") }
    var found = 0
    for (key, value) in scanner.members(of: root) where fields.contains(scanner.string(key) ?? "") {
        found += value.end - value.start
    }
    if let usage = scanner.value(at: ["stream_options", "include_usage"], in: root), scanner.bool(usage) == true {
        found += 1
    }
    return found
}

func readOld(_ body: [UInt8]) -> Int { read(LegacyJSONScanner.self, body) }
func readNew(_ body: [UInt8]) -> Int { read(JSONScanner.self, body) }

func quoted(_ text: String) -> String { JSONText.quoted(text) }

let small = Array(#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence, please."}],"max_tokens":64,"temperature":0.2,"stream":false}"#.utf8)

// About 1 MiB: sixteen messages of 64 KiB text each, with escapes and non-ASCII text mixed in.
let chunk = String(repeating: "The quick brown fox jumps over the lazy dog. Ünïcödé ✓ 😀 \"quoted\" \\ tab\t line\n", count: 800)
let large = Array(("{\"model\":\"gpt-4o\",\"messages\":["
    + (0..<16).map { "{\"role\":\"user\",\"content\":\(quoted(String(chunk.prefix(64 * 1024 - 40 * ($0 % 3)))))}" }
        .joined(separator: ",")
    + "],\"max_completion_tokens\":1024,\"stream\":true,\"stream_options\":{\"include_usage\":true}}").utf8)

// Tools whose parameter schemas nest 40 levels, with many properties per level.
func schema(_ depth: Int) -> String {
    let leaf = (0..<6).map { "\"p\($0)\":{\"type\":\"string\",\"description\":\"parameter \($0) at depth \(depth)\"}" }
    let nested = depth == 0 ? "" : ",\"child\":" + schema(depth - 1)
    return "{\"type\":\"object\",\"properties\":{" + leaf.joined(separator: ",") + nested + "},\"required\":[\"p0\"]}"
}
let tools = (0..<8).map { "{\"type\":\"function\",\"function\":{\"name\":\"tool\($0)\",\"parameters\":\(schema(20))}}" }
let nested = Array(("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"use the tools\"}],\"tools\":["
    + tools.joined(separator: ",") + "],\"tool_choice\":\"auto\"}").utf8)

let bodies: [(name: String, bytes: [UInt8])] = [("small chat request", small), ("1 MiB, long strings", large),
                                                ("nested tools", nested)]
let rounds = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 15

print("JSON reader, request path: old JSONScanner (router, before AirlockJSON) vs AirlockJSON.JSONScanner")
print("median of \(rounds) rounds, each round timing both readers alternately over the same body")
print("body                  bytes      old ns/op     new ns/op   new/old   old MB/s   new MB/s")
var sink = 0
for (name, body) in bodies {
    precondition(readOld(body) == readNew(body), "the readers disagree on \(name)")
    // About 50 ms of work per reader per round.
    let start = now()
    sink &+= readNew(body)
    let iterations = max(5, Int(50_000_000 / max(1, now() - start)))
    var old: [Double] = []
    var new: [Double] = []
    for round in 0..<rounds {
        for reader in (round % 2 == 0 ? [0, 1] : [1, 0]) {
            let begin = now()
            for _ in 0..<iterations { sink &+= reader == 0 ? readOld(body) : readNew(body) }
            let perOp = Double(now() - begin) / Double(iterations)
            if reader == 0 { old.append(perOp) } else { new.append(perOp) }
        }
    }
    let o = old.sorted()[rounds / 2]
    let n = new.sorted()[rounds / 2]
    let mb = { (ns: Double) in Double(body.count) / ns * 1e9 / 1_048_576 }
    let columns: [String] = [
        String(body.count).leftPad(8), String(Int(o)).leftPad(15), String(Int(n)).leftPad(14),
        format2(n / o).leftPad(10), String(Int(mb(o))).leftPad(11), String(Int(mb(n))).leftPad(11),
    ]
    print(name.rightPad(20) + columns.joined())
}
if sink == 42 { print("") }

func format2(_ x: Double) -> String {
    let hundredths = Int((x * 100).rounded())
    return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
    func rightPad(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
