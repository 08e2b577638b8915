/// Time to exhaustion from a growth verdict, with its interval.
enum Forecasts {
    /// `room` left at the last point, used up at the growth's slope (and at the ends of its interval).
    static func forecast(room: Double, _ g: Growth, resource: String, binding: String, limit: Double) -> Forecast {
        let r = max(0, room)
        let eta = g.whole.slope > 0 ? r / g.whole.slope : .infinity
        let low = g.whole.slopeHigh > 0 ? r / g.whole.slopeHigh : eta
        let high: Double? = g.whole.slopeLow > 0 ? r / g.whole.slopeLow : nil
        return Forecast(resource: resource, binding: binding, limit: limit, etaSeconds: eta, etaLowSeconds: min(low, eta), etaHighSeconds: high.map { max($0, eta) })
    }

    /// Critical only when even the late end of the interval falls within the horizon; a warning when the estimate
    /// does; information otherwise.
    static func severity(_ f: Forecast, _ c: AnalysisContext) -> Severity {
        if let h = f.etaHighSeconds, h <= c.horizonSeconds { return .critical }
        return f.etaSeconds <= c.horizonSeconds ? .warning : .info
    }
}
