// hwgen library: sequencer of the streaming ternary matmul kernels (TLMM and naive).
// States: weight load -> wait for a chunk -> [build its tables] -> NBLOCKS column-block cycles.
// Advances only on `en`, the global pipeline enable. BUILD_STEPS = 0: no build state (naive).
`timescale 1ns/1ps
module hwgen_mm_ctrl #(
    parameter CHUNKS = 1,          // input beats per token
    parameter NBLOCKS = 1,         // column blocks (output beats) per token
    parameter BUILD_STEPS = 0,     // table-build cycles per chunk
    parameter CW = 1,              // chunk counter bits
    parameter NW = 1,              // column-block counter bits
    parameter AW = 1,              // weight-bank address bits
    parameter SW = 1               // build-step counter bits
) (
    input  wire          clk,
    input  wire          rst,
    input  wire          en,
    input  wire          load_fire,   // a weight word is accepted
    input  wire          load_done,   // the last weight word is accepted
    input  wire          have_x,      // a chunk is available this cycle
    output wire          loading,
    output wire          running,     // a $ne on state: Yosys then does not FSM-recode the naive kernel's state (as measured)
    output wire          waiting,
    output wire          building,
    output wire          looking,
    output wire          need_x,      // the chunk in use is finished after this cycle
    output wire          last_nb,
    output wire          first_chunk,
    output wire          last_chunk,
    output reg  [NW-1:0] nb,
    output reg  [AW-1:0] raddr,       // weight-bank read address: chunk * NBLOCKS + nb
    output reg  [SW-1:0] step
);
    localparam ST_LOAD = 2'd0, ST_WAITX = 2'd1, ST_BUILD = 2'd2, ST_LOOK = 2'd3;
    localparam HAS_BUILD = BUILD_STEPS > 0;
    localparam AFTER_X = HAS_BUILD ? ST_BUILD : ST_LOOK;
    localparam LAST_STEP = BUILD_STEPS - 1;
    localparam LAST_CHUNK = CHUNKS - 1;
    localparam LAST_NB = NBLOCKS - 1;

    reg [1:0] state;
    reg [CW-1:0] chunk;
    assign loading = (state == ST_LOAD);
    assign running = (state != ST_LOAD);
    assign waiting = (state == ST_WAITX);
    assign building = (state == ST_BUILD);
    assign looking = (state == ST_LOOK);
    assign last_nb = (nb == LAST_NB);
    assign need_x = (state == ST_WAITX) || (state == ST_LOOK && last_nb);
    assign first_chunk = (chunk == 0);
    assign last_chunk = (chunk == LAST_CHUNK);

    always @(posedge clk) begin
        if (rst) begin
            state <= ST_LOAD;
            chunk <= 0;
            nb <= 0;
            raddr <= 0;
            step <= 0;
        end else begin
            if (load_fire) begin   // done implies fire; the nested test keeps Yosys' FSM mapping (and cell counts) as measured
                if (load_done) state <= ST_WAITX;
            end
            if (en) begin
                case (state)
                    ST_WAITX: if (have_x) state <= AFTER_X;
                    ST_BUILD: if (HAS_BUILD) begin
                        if (step == LAST_STEP) begin
                            step <= 0;
                            state <= ST_LOOK;
                        end else begin
                            step <= step + 1'b1;
                        end
                    end
                    ST_LOOK: begin
                        if (last_nb) begin
                            nb <= 0;
                            if (chunk == LAST_CHUNK) begin
                                chunk <= 0;
                                raddr <= 0;
                            end else begin
                                chunk <= chunk + 1'b1;
                                raddr <= raddr + 1'b1;
                            end
                            state <= have_x ? AFTER_X : ST_WAITX;
                        end else begin
                            nb <= nb + 1'b1;
                            raddr <= raddr + 1'b1;
                        end
                    end
                    default: ;
                endcase
            end
        end
    end
endmodule
