// hwgen library module (copied verbatim into every project that composes kernels).
// Stream adapter between two kernels of a composition: takes one unit (token) of IN_BEATS beats of IN_N signed
// IN_W-bit values, requantises each value to OUT_W bits (arithmetic shift right by SHIFT, keeping the low OUT_W
// bits; no saturation), and emits the unit as OUT_BEATS beats of OUT_N values. Values past the producer's
// IN_N * IN_BEATS are zero; values past OUT_N * OUT_BEATS are dropped.
// Two unit buffers (ping-pong): the producer writes unit t+1 while the consumer reads unit t, so the composition's
// II is the larger of the two kernels' and its latency the sum of theirs (the consumer's first beat is valid the
// cycle after the producer's last beat was taken). IBW / OBW: widths of the beat counters (>= 1).
`timescale 1ns/1ps
module hwgen_stream_adapter #(
    parameter IN_N = 4, IN_W = 18, IN_BEATS = 16,
    parameter OUT_N = 24, OUT_W = 8, OUT_BEATS = 3,
    parameter SHIFT = 10, IBW = 4, OBW = 2
) (
    input  wire clk,
    input  wire rst,
    input  wire [IN_N*IN_W-1:0] s_tdata,
    input  wire s_tvalid,
    output wire s_tready,
    input  wire s_tlast,
    output wire [OUT_N*OUT_W-1:0] m_tdata,
    output wire m_tvalid,
    input  wire m_tready,
    output wire m_tlast
);
    localparam WR = IN_N * IN_BEATS;              // values written per unit
    localparam RD = OUT_N * OUT_BEATS;            // values read per unit
    localparam NV = (WR > RD) ? WR : RD;

    reg [NV*OUT_W-1:0] buffer0, buffer1;
    reg [1:0] full;                               // per buffer: holds a complete unit not yet read out
    reg wsel, rsel;                               // buffer being written / read
    reg [IBW-1:0] wi;
    reg [OBW-1:0] ri;
    assign s_tready = !full[wsel];
    assign m_tvalid = full[rsel];
    assign m_tlast = (ri == OUT_BEATS - 1);
    wire s_fire = s_tvalid && s_tready;
    wire m_fire = m_tvalid && m_tready;
    wire s_done = s_fire && (wi == IN_BEATS - 1);
    wire m_done = m_fire && (ri == OUT_BEATS - 1);
    always @(posedge clk) begin
        if (rst) begin
            full <= 2'b00;
            wsel <= 1'b0;
            rsel <= 1'b0;
            wi <= 0;
            ri <= 0;
        end else begin
            if (s_fire) wi <= (wi == IN_BEATS - 1) ? 0 : wi + 1'b1;
            if (m_fire) ri <= (ri == OUT_BEATS - 1) ? 0 : ri + 1'b1;
            if (s_done) wsel <= !wsel;
            if (m_done) rsel <= !rsel;
            // a buffer fills and empties in different cycles (it is written only while not full)
            full[0] <= (full[0] || (s_done && !wsel)) && !(m_done && !rsel);
            full[1] <= (full[1] || (s_done && wsel)) && !(m_done && rsel);
        end
    end
    genvar b, l;
    generate
        for (b = 0; b < IN_BEATS; b = b + 1) begin : g_wbeat
            for (l = 0; l < IN_N; l = l + 1) begin : g_wlane
                wire signed [IN_W-1:0] v = s_tdata[l*IN_W +: IN_W];
                wire signed [IN_W-1:0] sh = v >>> SHIFT;
                always @(posedge clk) if (s_fire && wi == b) begin
                    if (wsel) buffer1[(b*IN_N+l)*OUT_W +: OUT_W] <= sh[OUT_W-1:0];
                    else buffer0[(b*IN_N+l)*OUT_W +: OUT_W] <= sh[OUT_W-1:0];
                end
            end
        end
        if (NV > WR) begin : g_tail
            always @(posedge clk) begin
                buffer0[NV*OUT_W-1:WR*OUT_W] <= 0;
                buffer1[NV*OUT_W-1:WR*OUT_W] <= 0;
            end
        end
        wire [OUT_N*OUT_W-1:0] beat0 [0:OUT_BEATS-1];
        wire [OUT_N*OUT_W-1:0] beat1 [0:OUT_BEATS-1];
        for (b = 0; b < OUT_BEATS; b = b + 1) begin : g_rbeat
            assign beat0[b] = buffer0[b*OUT_N*OUT_W +: OUT_N*OUT_W];
            assign beat1[b] = buffer1[b*OUT_N*OUT_W +: OUT_N*OUT_W];
        end
        assign m_tdata = rsel ? beat1[ri] : beat0[ri];
    endgenerate
endmodule
