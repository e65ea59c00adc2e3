// hwgen library: control of the streaming attention kernels (attention_decode / attention_prefill):
// the call / head group / block FSM, the stream handshakes, the beat and key counters, the (p, alpha)
// FIFO pointers, and the per-stage valid / first / key-index bits of the shared K, V and output
// pipelines (the datapath units only carry data). Sequence and cycle model: hwgen/kernels/attention.py.
`timescale 1ns/1ps
module hwgen_attn_ctrl #(
    parameter PAR_W = 32,       // s_par beat
    parameter LEN_W = 32,       // the length field of the length beat, s_par_tdata[LEN_W-1:0]
    parameter LEN_MAX = 1,
    parameter CW = 2,           // length / key counters (hold LEN_MAX + 1)
    parameter NPE = 1,          // query PEs per block
    parameter PW = 1,           // PE counters
    parameter BW = 1,           // beat-in-vector counters
    parameter GW = 1,           // head-group counter
    parameter DW = 1,           // divider step counter
    parameter RW = 1,           // divider steps - 1
    parameter LAST_BEAT = 0,    // beats per vector - 1
    parameter LAST_GROUP = 0,   // head groups - 1
    parameter CAUSAL = 0,
    parameter REVERSED = 0,
    parameter NPE_POW2 = 1,     // reversed prefill, last block's base: (len - 1) >> NPE_LOG2 << NPE_LOG2,
    parameter NPE_LOG2 = 0,     //   else ((len - 1) * DIV_M >> DIV_S) * NPE (exact for len <= LEN_MAX)
    parameter DIV_M = 1,
    parameter DIV_S = 0,
    parameter FAW = 2,          // (p, alpha) FIFO address bits
    parameter FCW = 3,          // FIFO occupancy counters (FIFO depth = 2^(FCW-1))
    parameter KS = 3,           // K pipeline stages from the K beat to the dot-product register
    parameter OUT_STAGES = 4    // output pipeline stages from issue to m_o
) (
    input  wire clk,
    input  wire rst,
    input  wire [PAR_W-1:0] s_par_tdata,
    input  wire s_par_tvalid,
    output wire s_par_tready,
    input  wire s_q_tvalid,
    output wire s_q_tready,
    input  wire s_k_tvalid,
    output wire s_k_tready,
    input  wire s_v_tvalid,
    output wire s_v_tready,
    input  wire m_o_tready,
    output wire m_o_tvalid,
    output wire m_o_tlast,
    // head group parameters (cm, csh per head)
    output reg  [PAR_W-1:0] pw,
    // block geometry, valid in ST_BLK
    output wire st_blk,
    output wire [CW-1:0] base_n,
    output wire [CW-1:0] rest_n,
    // q load: write strobe, PE and beat
    output wire q_fire,
    output reg  [PW-1:0] qpe,
    output reg  [BW-1:0] qc,
    // K pipeline: beat of the K beat (q buffer read address); the stage before the dot register
    output reg  [BW-1:0] ck,
    output wire kt_v,
    output wire kt_first,
    output wire kt_last,
    // score / softmax stages
    output reg  s2_v,
    output wire s2_first,
    output reg  [CW-1:0] s2_j,
    output reg  s4_first,
    output reg  s5_v,           // (p, alpha) FIFO push
    output reg  s6_v,
    output reg  [FAW-1:0] f_wr,
    output reg  [FAW-1:0] f_rd,
    // V pipeline
    output reg  v1_first,
    output reg  v2_first,
    output reg  v2_v,
    output reg  v3_v,
    output reg  [BW-1:0] v2_a,
    output reg  [BW-1:0] v3_a,
    // divider and output
    output wire st_sweep,
    output wire st_div,
    output wire div_first,      // the divider's first step (numerator bit 1)
    output wire st_out,
    output reg  [BW-1:0] oc,
    output reg  [PW-1:0] ope,
    output wire o_adv,          // the output pipeline advances
    output reg  [2:0] state     // for test benches (ST_SWEEP = 3)
);
    localparam [2:0] ST_LEN = 3'd0, ST_PAR = 3'd1, ST_Q = 3'd2, ST_SWEEP = 3'd3, ST_DIV = 3'd4, ST_OUT = 3'd5,
                     ST_BLK = 3'd6, ST_CALC = 3'd7;

    reg [CW-1:0] len;
    reg [GW-1:0] grp;
    // Block geometry: base (first query of the block) is set when a block ends; ST_BLK (one cycle per block)
    // registers everything derived from it, so no consumer sees the len/base arithmetic combinationally.
    reg [CW-1:0] base;
    reg first_blk;                 // the next ST_BLK opens a head group (reversed order: base = last_base)
    reg [CW-1:0] last_base;        // first query of the last block: ((len - 1) div NPE) * NPE
    generate
        // two stages from len, valid before ST_BLK thanks to ST_CALC
        if (CAUSAL && REVERSED && NPE_POW2) begin : calc_pow2
            reg [CW-1:0] lq;
            always @(posedge clk) begin
                lq <= (len - 1'b1) >> NPE_LOG2;
                last_base <= lq << NPE_LOG2;
            end
        end else if (CAUSAL && REVERSED) begin : calc_div
            reg [CW-1:0] lq;
            always @(posedge clk) begin
                lq <= ((len - 1'b1) * DIV_M) >> DIV_S;    // exact (len - 1) / NPE for len <= LEN_MAX
                last_base <= lq * NPE;
            end
        end else begin : no_calc
            always @(posedge clk) last_base <= {CW{1'b0}};
        end
    endgenerate
    assign base_n = (CAUSAL && REVERSED && first_blk) ? last_base : base;
    assign rest_n = len - base_n;
    wire [CW-1:0] nvalid_n = (rest_n < NPE) ? rest_n : NPE;
    wire [CW-1:0] sweep_n = (CAUSAL && REVERSED) ? base_n + nvalid_n : len;
    wire last_block_n = !CAUSAL || (REVERSED ? (base_n == 0) : (rest_n <= NPE));
    reg [PW-1:0] nvm1;             // valid queries of the block - 1
    reg last_block;
    reg [CW-1:0] kleft, vleft;     // keys left in the K and V sweeps
    reg k_on, v_on;

    // counters
    reg [BW-1:0] cv;
    reg [CW-1:0] jk, jv;
    reg [DW-1:0] dcnt;

    // (p, alpha) FIFO pointers (the entries live in each unit); resv counts keys from their last K beat to
    // the pop of their entry (K pipeline + FIFO), so the FIFO never overflows
    reg [FCW-1:0] f_cnt, resv;

    assign st_blk = (state == ST_BLK);
    assign st_sweep = (state == ST_SWEEP);
    assign st_div = (state == ST_DIV);
    assign st_out = (state == ST_OUT);
    assign div_first = (dcnt == RW);
    assign s_par_tready = (state == ST_LEN) || (state == ST_PAR);
    assign s_q_tready = (state == ST_Q);
    assign s_k_tready = (state == ST_SWEEP) && k_on && !resv[FCW-1];     // resv < FIFO depth (a power of two)
    assign s_v_tready = (state == ST_SWEEP) && v_on && (f_cnt != 0);
    wire par_fire = s_par_tvalid && s_par_tready;
    assign q_fire = s_q_tvalid && s_q_tready;
    wire k_fire = s_k_tvalid && s_k_tready;
    wire v_fire = s_v_tvalid && s_v_tready;
    wire k_last_beat = (ck == LAST_BEAT);
    wire f_push = s5_v;
    wire f_pop = v_fire && (cv == LAST_BEAT);
    wire [LEN_W-1:0] len_raw = s_par_tdata[LEN_W-1:0];

    // ---------------------------------------------------------------- shared pipeline registers
    // K: per stage valid / first beat / last beat / key index, KS stages up to the dot-product register
    wire [CW-1:0] kt_j;
    hwgen_delay #(.WIDTH(1), .STAGES(KS), .RESET(1)) kp_v (
        .clk(clk), .rst(rst), .en(1'b1), .d(k_fire), .q(kt_v));
    hwgen_delay #(.WIDTH(CW + 2), .STAGES(KS)) kp (
        .clk(clk), .rst(1'b0), .en(1'b1), .d({ck == 0, k_last_beat, jk}), .q({kt_first, kt_last, kt_j}));
    // score / softmax stages: sc (dot of a key) -> s1 (x cm) -> s2 (t) -> s3 (diff) -> s4 (exp) -> s5 (p, alpha)
    reg sc_v, s1_v, s3_v, s4_v;
    reg [CW-1:0] sc_j, s1_j;
    reg s3_first;
    assign s2_first = (s2_j == 0);
    // V: beat address / first key flag
    reg v1_v;
    reg [BW-1:0] v1_a;
    // output pipeline (global stall): issue -> o1 (row, R) -> o2 (x R pieces) -> o3 (sum) -> o4 (m_o)
    wire o_issue = (state == ST_OUT) && o_adv;
    wire o_issue_last = (ope == nvm1) && (oc == LAST_BEAT);
    assign o_adv = !m_o_tvalid || m_o_tready;
    hwgen_delay #(.WIDTH(1), .STAGES(OUT_STAGES), .RESET(1)) o_v (
        .clk(clk), .rst(rst), .en(o_adv), .d(o_issue), .q(m_o_tvalid));
    hwgen_delay #(.WIDTH(1), .STAGES(OUT_STAGES)) o_last (
        .clk(clk), .rst(1'b0), .en(o_adv), .d(o_issue_last && last_block && (grp == LAST_GROUP)), .q(m_o_tlast));

    always @(posedge clk) begin
        if (kt_v && kt_last) sc_j <= kt_j;
        s1_j <= sc_j;
        s2_j <= s1_j;
        s3_first <= s2_first;
        s4_first <= s3_first;
        v1_a <= cv;
        v1_first <= (jv == 0);
        v2_a <= v1_a;
        v2_first <= v1_first;
        v3_a <= v2_a;
        if (rst) begin
            {sc_v, s1_v, s2_v, s3_v, s4_v, s5_v, s6_v} <= 7'd0;
            {v1_v, v2_v, v3_v} <= 3'd0;
        end else begin
            sc_v <= kt_v && kt_last;
            s1_v <= sc_v;
            s2_v <= s1_v;
            s3_v <= s2_v;
            s4_v <= s3_v;
            s5_v <= s4_v;
            s6_v <= s5_v;
            v1_v <= v_fire;
            v2_v <= v1_v;
            v3_v <= v2_v;
        end
    end

    // ---------------------------------------------------------------- FSM
    always @(posedge clk) begin
        if (rst) begin
            state <= ST_LEN;
            len <= 1;
            grp <= 0;
            pw <= 0;
            base <= 0;
            first_blk <= 1'b0;
            nvm1 <= 0;
            last_block <= 1'b1;
            kleft <= 0; vleft <= 0; k_on <= 1'b0; v_on <= 1'b0;
            qpe <= 0; qc <= 0; ck <= 0; cv <= 0; oc <= 0; ope <= 0;
            jk <= 0; jv <= 0; dcnt <= 0;
            f_wr <= 0; f_rd <= 0; f_cnt <= 0; resv <= 0;
        end else begin
            if (f_push) f_wr <= f_wr + 1'b1;
            if (f_pop) f_rd <= f_rd + 1'b1;
            f_cnt <= f_cnt + (f_push ? 1'b1 : 1'b0) - (f_pop ? 1'b1 : 1'b0);
            resv <= resv + ((k_fire && k_last_beat) ? 1'b1 : 1'b0) - (f_pop ? 1'b1 : 1'b0);

            case (state)
                ST_LEN: if (par_fire) begin
                    len <= (len_raw == 0) ? 1 : (len_raw > LEN_MAX) ? LEN_MAX : len_raw[CW-1:0];
                    grp <= 0;
                    state <= (CAUSAL && REVERSED) ? ST_CALC : ST_PAR;
                end
                ST_CALC: state <= ST_PAR;     // one cycle for the last_base pipeline
                ST_PAR: if (par_fire) begin
                    pw <= s_par_tdata;
                    base <= {CW{1'b0}};
                    first_blk <= 1'b1;
                    state <= ST_BLK;
                end
                ST_BLK: begin
                    base <= base_n;
                    first_blk <= 1'b0;
                    nvm1 <= nvalid_n - 1'b1;
                    last_block <= last_block_n;
                    kleft <= sweep_n; vleft <= sweep_n;
                    k_on <= 1'b1; v_on <= 1'b1;
                    qpe <= 0; qc <= 0;
                    state <= ST_Q;
                end
                ST_Q: if (q_fire) begin
                    if (qc == LAST_BEAT) begin
                        qc <= 0;
                        if (qpe == nvm1) begin
                            qpe <= 0;
                            jk <= 0; ck <= 0; jv <= 0; cv <= 0;
                            state <= ST_SWEEP;
                        end else qpe <= qpe + 1'b1;
                    end else qc <= qc + 1'b1;
                end
                ST_SWEEP: begin
                    if (k_fire) begin
                        if (k_last_beat) begin
                            ck <= 0;
                            jk <= jk + 1'b1;
                            kleft <= kleft - 1'b1;
                            if (kleft == 1) k_on <= 1'b0;
                        end else ck <= ck + 1'b1;
                    end
                    if (v_fire) begin
                        if (cv == LAST_BEAT) begin
                            cv <= 0;
                            jv <= jv + 1'b1;
                            vleft <= vleft - 1'b1;
                            if (vleft == 1) begin
                                v_on <= 1'b0;
                                dcnt <= RW;
                                state <= ST_DIV;
                            end
                        end else cv <= cv + 1'b1;
                    end
                end
                ST_DIV: begin
                    if (dcnt == 0) begin
                        ope <= 0; oc <= 0;
                        state <= ST_OUT;
                    end else dcnt <= dcnt - 1'b1;
                end
                ST_OUT: if (o_issue) begin
                    // the last beat's issue ends the block; the output pipeline drains on its own
                    if (oc == LAST_BEAT) begin
                        oc <= 0;
                        if (ope == nvm1) begin
                            ope <= 0;
                            if (!last_block) begin
                                base <= REVERSED ? base - NPE : base + NPE;
                                state <= ST_BLK;
                            end else if (grp == LAST_GROUP) begin
                                state <= ST_LEN;
                            end else begin
                                grp <= grp + 1'b1;
                                state <= ST_PAR;
                            end
                        end else ope <= ope + 1'b1;
                    end else oc <= oc + 1'b1;
                end
                default: state <= ST_LEN;
            endcase
        end
    end
endmodule
