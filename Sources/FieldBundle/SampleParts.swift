import FieldModel

/// Joins the sample records of an instant that a writer split because it was too large for one record (format
/// 1.2, `part` and `more`) back into one sample.
///
/// Feed it the decoded sample records of one bundle in order (after `SampleDecoder`, which resolves references
/// record by record). A whole sample passes straight through. An instant whose parts did not all arrive (the
/// writer stopped inside it, or a part was damaged) is never handed on as if it were whole, because its missing
/// half would look like processes that exited: it is counted in `incomplete` and left out.
public struct SampleAssembler {
    private var pending: Sample?
    private var nextIndex: UInt32 = 0
    /// Inside the later parts of an instant whose beginning is missing (already counted).
    private var orphaned = false
    /// Instants left out because a part was missing.
    public private(set) var incomplete = 0
    /// Instants put together from more than one record.
    public private(set) var joined = 0

    /// An assembler for one bundle.
    public init() {}

    /// The next sample record; returns a whole sample when one is complete.
    public mutating func add(_ s: Sample) -> Sample? {
        guard let part = s.part else {
            abandonPending()
            orphaned = false
            return s
        }
        if part.index == 0 {
            abandonPending()
            var first = s
            first.part = nil
            pending = first
        } else if var whole = pending, part.index == nextIndex, whole.sequence == s.sequence,
            whole.monoNanos == s.monoNanos
        {
            pending = nil  // uniquely referenced while it grows
            whole.files += s.files
            pending = whole
        } else {
            // A part whose earlier parts are missing: its instant cannot be whole (counted once).
            if pending != nil || !orphaned { incomplete += 1 }
            pending = nil
            orphaned = part.more
            nextIndex = part.index &+ 1
            return nil
        }
        orphaned = false
        nextIndex = part.index &+ 1
        guard !part.more else { return nil }
        let done = pending
        pending = nil
        joined += 1
        return done
    }

    /// At the end of the bundle: an instant still waiting for parts is incomplete.
    public mutating func finish() { abandonPending() }

    private mutating func abandonPending() {
        if pending != nil { incomplete += 1 }
        pending = nil
    }
}
