// hwgen library: valid/flag pipeline of the matmul kernels and the output register.
// Stage 1 reads the weight banks, EXTRA stages follow (the lane path's pipeline registers, `pipeline`), stage 2
// accumulates, the output register holds one beat. The flags travel with the data, so every stage keeps II = 1.
// en (one global enable) stalls every stage while the output holds a beat the consumer has not taken.
`timescale 1ns/1ps
module hwgen_mm_pipe #(
    parameter NW = 1,                 // column-block index bits
    parameter Y_BITS = 1,             // output beat bits
    parameter EXTRA = 0               // register stages between stage 1 and stage 2
) (
    input  wire              clk,
    input  wire              rst,
    output wire              en,
    input  wire              issue,       // a column block is issued this cycle
    input  wire [NW-1:0]     nb,
    input  wire              first_chunk,
    input  wire              last_chunk,
    input  wire              last_nb,
    output wire [NW-1:0]     pre_nb,      // the index one stage before stage 2 (a registered-read address)
    output reg               s2_valid,
    output reg  [NW-1:0]     s2_nb,
    output reg               s2_first,    // first chunk: the accumulator starts from 0
    input  wire [Y_BITS-1:0] y_next,      // the lanes' sums in stage 2
    output reg  [Y_BITS-1:0] y_tdata,
    output reg               y_tvalid,
    input  wire              y_tready,
    output reg               y_tlast
);
    localparam FW = NW + 3;           // first, last, tlast, nb
    reg s1_valid, s1_first, s1_last, s1_tlast;
    reg [NW-1:0] s1_nb;
    reg s2_last, s2_tlast;
    assign en = !y_tvalid || y_tready;

    // Stage k of the chain (k = 0: stage 1) at vc[k] / fc[k*FW +: FW]; the chain's end feeds stage 2.
    wire [EXTRA:0] vc;
    wire [(EXTRA+1)*FW-1:0] fc;
    assign vc[0] = s1_valid;
    assign fc[FW-1:0] = {s1_first, s1_last, s1_tlast, s1_nb};
    genvar k;
    generate
        for (k = 1; k <= EXTRA; k = k + 1) begin : g_extra
            reg v;
            reg [FW-1:0] f;
            always @(posedge clk) begin
                if (rst) v <= 1'b0;
                else if (en) v <= vc[k - 1];
                if (en) f <= fc[(k - 1) * FW +: FW];
            end
            assign vc[k] = v;
            assign fc[k * FW +: FW] = f;
        end
    endgenerate
    wire pre_valid = vc[EXTRA];
    wire [FW-1:0] pre = fc[EXTRA * FW +: FW];
    assign pre_nb = pre[NW-1:0];

    always @(posedge clk) begin
        if (rst) begin
            s1_valid <= 1'b0;
            s2_valid <= 1'b0;
            y_tvalid <= 1'b0;
            y_tlast <= 1'b0;
        end else if (en) begin
            s1_valid <= issue;
            s1_nb <= nb;
            s1_first <= first_chunk;
            s1_last <= last_chunk;
            s1_tlast <= last_nb;
            s2_valid <= pre_valid;
            {s2_first, s2_last, s2_tlast, s2_nb} <= pre;
            y_tvalid <= s2_valid && s2_last;   // the last chunk emits
            y_tdata <= y_next;
            y_tlast <= s2_tlast;
        end
    end
endmodule
