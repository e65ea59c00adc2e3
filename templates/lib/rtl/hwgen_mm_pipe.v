// hwgen library: valid/flag pipeline of the matmul kernels and the output register.
// Stage 1 reads the weight banks, stage 2 accumulates, the output register holds one beat.
// en (one global enable) stalls every stage while the output holds a beat the consumer has not taken.
`timescale 1ns/1ps
module hwgen_mm_pipe #(
    parameter NW = 1,                 // column-block index bits
    parameter Y_BITS = 1              // output beat bits
) (
    input  wire              clk,
    input  wire              rst,
    output wire              en,
    input  wire              issue,       // a column block is issued this cycle
    input  wire [NW-1:0]     nb,
    input  wire              first_chunk,
    input  wire              last_chunk,
    input  wire              last_nb,
    output reg               s2_valid,
    output reg  [NW-1:0]     s2_nb,
    output reg               s2_first,    // first chunk: the accumulator starts from 0
    input  wire [Y_BITS-1:0] y_next,      // the lanes' sums in stage 2
    output reg  [Y_BITS-1:0] y_tdata,
    output reg               y_tvalid,
    input  wire              y_tready,
    output reg               y_tlast
);
    reg s1_valid, s1_first, s1_last, s1_tlast;
    reg [NW-1:0] s1_nb;
    reg s2_last, s2_tlast;
    assign en = !y_tvalid || y_tready;

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
            s2_valid <= s1_valid;
            s2_nb <= s1_nb;
            s2_first <= s1_first;
            s2_last <= s1_last;
            s2_tlast <= s1_tlast;
            y_tvalid <= s2_valid && s2_last;   // the last chunk emits
            y_tdata <= y_next;
            y_tlast <= s2_tlast;
        end
    end
endmodule
