// hwgen library: LANES weight banks (one per output lane, so all lanes read in the same cycle) and
// their load sequencer. After reset the banks take LANES * DEPTH words, bank address major, lane minor.
`timescale 1ns/1ps
module hwgen_weight_banks #(
    parameter LANES = 1,
    parameter WORD_BITS = 1,
    parameter DEPTH = 1,              // words per bank
    parameter AW = 1,                 // address bits
    parameter LW = 1,                 // lane counter bits
    parameter RAM_STYLE = "block"     // ultra | block | distributed
) (
    input  wire                       clk,
    input  wire                       rst,
    input  wire                       load,        // accept weight words
    input  wire [WORD_BITS-1:0]       w_tdata,
    input  wire                       w_tvalid,
    output wire                       w_tready,
    output wire                       fire,        // a word is accepted this cycle
    output wire                       done,        // the last word is accepted this cycle
    input  wire                       en,
    input  wire [AW-1:0]              raddr,
    output wire [LANES*WORD_BITS-1:0] rdata        // registered (synchronous) read, lane q at q*WORD_BITS
);
    localparam LAST_LANE = LANES - 1;
    localparam LAST_ADDR = DEPTH - 1;

    reg [LW-1:0] ld_bank;
    reg [AW-1:0] ld_addr;
    assign w_tready = load;
    wire w_fire = w_tvalid && w_tready;
    assign fire = w_fire;
    assign done = w_fire && ld_bank == LAST_LANE && ld_addr == LAST_ADDR;

    always @(posedge clk) begin
        if (rst) begin
            ld_bank <= 0;
            ld_addr <= 0;
        end else if (w_fire) begin
            if (ld_bank == LAST_LANE) begin
                ld_bank <= 0;
                ld_addr <= ld_addr + 1'b1;
            end else begin
                ld_bank <= ld_bank + 1'b1;
            end
        end
    end

    // ram_style must be a literal attribute, hence one branch per style.
    genvar q;
    generate
        for (q = 0; q < LANES; q = q + 1) begin : g_bank
            reg [WORD_BITS-1:0] wrd;
            assign rdata[q * WORD_BITS +: WORD_BITS] = wrd;
            if (RAM_STYLE == "ultra") begin : g_ultra
                (* ram_style = "ultra" *) reg [WORD_BITS-1:0] wmem [0:LAST_ADDR];
                always @(posedge clk) begin
                    if (w_fire && ld_bank == q) wmem[ld_addr] <= w_tdata;
                    if (en) wrd <= wmem[raddr];
                end
            end else if (RAM_STYLE == "distributed") begin : g_distributed
                (* ram_style = "distributed" *) reg [WORD_BITS-1:0] wmem [0:LAST_ADDR];
                always @(posedge clk) begin
                    if (w_fire && ld_bank == q) wmem[ld_addr] <= w_tdata;
                    if (en) wrd <= wmem[raddr];
                end
            end else begin : g_block
                (* ram_style = "block" *) reg [WORD_BITS-1:0] wmem [0:LAST_ADDR];
                always @(posedge clk) begin
                    if (w_fire && ld_bank == q) wmem[ld_addr] <= w_tdata;
                    if (en) wrd <= wmem[raddr];
                end
            end
        end
    endgenerate
endmodule
