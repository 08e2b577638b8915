import FieldAnalysis
import FieldBackends
import FieldBundle
import FieldImport
import FieldModel
import FuzzSupport

// Hand-made soak logs (`fieldctl import` of anything that is not a capture): the bytes as the log, cut into lines,
// through the block scanner, then the iteration assembler in every mode (the one the survey picks first), then
// the picked mode's samples through the Linux interpreter, a timeline and the detectors. None of it may trap;
// every sample's files are recognised blocks with the newline each line had, or a missing or failed read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.input(data, size)
    var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    if lines.last?.isEmpty == true { lines.removeLast() }
    var scanner = HandLogScanner()
    var items: [HandLogScanner.Item] = []
    for l in lines { items += scanner.feed(l) }
    items += scanner.finish(lastLineComplete: bytes.last == 0x0A || bytes.isEmpty)
    var survey = HandLogAssembler.Survey()
    for i in items { survey.take(i) }
    let modes: [HandLogAssembler.Mode] = [survey.mode, .repetition, .dates(before: true), .dates(before: false),
                                          .topClock(before: true), .topClock(before: false)]
    for (n, mode) in modes.enumerated() {
        var a = HandLogAssembler(mode: mode, mapsPID: n == 1 ? 42 : nil, intervalNanos: 1_000_000_000, source: "fuzz")
        var samples: [Sample] = []
        var events: [CaptureLogParser.Event] = []
        for i in items { events += a.take(i) }
        events += a.finish()
        for case .sample(let s) in events { samples.append(s) }
        for s in samples {
            for f in s.files {
                Fuzz.check(f.path.hasPrefix("/proc/") || f.path.hasPrefix("command:"), "a sample file named \(f.path)")
                Fuzz.check(f.status != .ok || f.bytes.last == 0x0A, "a block of \(f.path) without its last newline")
            }
        }
        guard n == 0, let linux = BackendRegistry.all.first(where: { $0.identifier == "linux" }) else { continue }
        let header = BundleHeader(
            agent: "fuzz", backend: "linux", osIdentity: [], deviceID: "fuzz", bootID: nil, wallNanos: 0, monoNanos: 0,
            intervalNanos: 1_000_000_000, procRoot: "/proc", sequence: 0, plan: linux.capturePlan)
        var timeline = TimelineBuilder()
        for s in samples { timeline.add(sample: s, header: header) }
        timeline.finish()
        _ = Analyzer().analyze(Array(timeline.devices.values))
    }
    return 0
}
