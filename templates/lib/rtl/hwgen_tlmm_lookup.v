// hwgen library: one TLMM lane's T table replicas (LUTRAM: one write port shared with every lane,
// one asynchronous read port for this lane's lookup) and the lookups of one weight word.
// leaves: T looked-up entries (table t at t*ENTRY_BITS), then for mirror tables the count of signs.
// Mirror tables (MIRROR_BITS > 0) store an index above the middle as sign + mirrored index; a negative
// lookup leaves as ~entry (= -entry - 1), so the adder tree adds the count of signs once: counted here in a ripple
// chain, or (SIGN_TREE = 1, pipelined lanes) the T sign bits leave as they are and the balanced tree sums them.
`timescale 1ns/1ps
module hwgen_tlmm_lookup #(
    parameter T = 1,
    parameter ENTRY_BITS = 2,
    parameter DEPTH = 1,              // table entries
    parameter EW = 1,                 // table address bits
    parameter FIELD_BITS = 1,         // weight field per table
    parameter MIRROR_BITS = 0,        // 0: full tables; else mirrored-index bits (sign bit above them)
    parameter SIGN_BITS = 1,          // width of the sign count (mirror only)
    parameter SIGN_TREE = 0,          // mirror: 1 = the sign bits leave uncounted
    parameter LEAVES_BITS = 2         // T*ENTRY_BITS, + SIGN_BITS (SIGN_TREE: + T) for mirror tables
) (
    input  wire                    clk,
    input  wire                    we,
    input  wire [EW-1:0]           waddr,
    input  wire [T*ENTRY_BITS-1:0] wdata,     // the entries the builders produce this cycle
    input  wire [T*FIELD_BITS-1:0] word,      // this lane's weight word (registered bank output)
    output wire [LEAVES_BITS-1:0]  leaves
);
    localparam LAST_ENTRY = DEPTH - 1;
    wire [T*ENTRY_BITS-1:0] vals;
    wire [T-1:0] sgn;
    genvar t;
    generate
        for (t = 0; t < T; t = t + 1) begin : g_rep
            (* ram_style = "distributed" *) reg [ENTRY_BITS-1:0] tbl [0:LAST_ENTRY];
            always @(posedge clk) if (we) tbl[waddr] <= wdata[t * ENTRY_BITS +: ENTRY_BITS];
            wire [FIELD_BITS-1:0] field = word[t * FIELD_BITS +: FIELD_BITS];
            if (MIRROR_BITS > 0) begin : g_mirror
                wire signed [ENTRY_BITS-1:0] half = tbl[field[MIRROR_BITS-1:0]];
                assign sgn[t] = field[MIRROR_BITS];
                assign vals[t * ENTRY_BITS +: ENTRY_BITS] = half ^ {ENTRY_BITS{sgn[t]}};
            end else begin : g_full
                assign sgn[t] = 1'b0;
                assign vals[t * ENTRY_BITS +: ENTRY_BITS] = tbl[field];
            end
        end
        if (MIRROR_BITS > 0 && SIGN_TREE) begin : g_signs
            assign leaves = {sgn, vals};
        end else if (MIRROR_BITS > 0) begin : g_count
            // Running count of the signs; each partial count only as wide as its value (at most
            // SIGN_BITS), so the adders are already narrow and need no width reduction in synthesis.
            for (t = 0; t < T; t = t + 1) begin : g_cnt
                localparam W = (t + 1 < SIGN_BITS) ? t + 1 : SIGN_BITS;
                wire [W-1:0] c;
                if (t == 0) begin : g_first
                    assign c = sgn[0];
                end else begin : g_add
                    assign c = g_cnt[t - 1].c + sgn[t];
                end
            end
            wire [SIGN_BITS-1:0] sign_count = g_cnt[T - 1].c;
            assign leaves = {sign_count, vals};
        end else begin : g_nocount
            assign leaves = vals;
        end
    endgenerate
endmodule
