// spinescan train detector
#include <iostream>

#include "commands.h"
#include "spinescan/core/logging.h"
#include "spinescan/detect/train.h"

namespace spinescan::cli {

void register_train(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand("train", "Train a model stage");
  cmd->require_subcommand(1);
  auto c = std::make_shared<detect::DetectorTrainConfig>();
  CLI::App* det = cmd->add_subcommand("detector", "Train the vertebral-body detector (RetinaNet, ResNet-18 + FPN)");
  det->add_option("--data", c->data, "dataset folder")->required();
  det->add_option("--split", c->split, "splits.json (spinescan dataset split)")->required();
  det->add_option("--fold", c->fold, "fold whose train cases are used; its val cases stay unseen");
  det->add_option("--out", c->out, "run folder")->required();
  det->add_option("--epochs", c->epochs, "epochs");
  det->add_option("--batch", c->batch, "slices per step");
  det->add_option("--samples-per-epoch", c->samples_per_epoch, "slices drawn per epoch");
  det->add_option("--lr", c->lr, "peak learning rate (AdamW; warm-up then cosine)");
  det->add_option("--weight-decay", c->weight_decay, "AdamW weight decay");
  det->add_option("--warmup-steps", c->warmup_steps, "linear warm-up steps");
  det->add_option("--empty-fraction", c->empty_fraction, "share of drawn slices without a body");
  det->add_option("--inner-val-cases", c->inner_val_cases, "training cases held out to choose the best epoch");
  det->add_option("--size", c->canvas_size, "canvas size in pixels (multiple of 32)");
  det->add_option("--pixel-mm", c->pixel_mm, "canvas pixel size in mm");
  det->add_option("--box-loss", c->box_loss, "smooth_l1, l1 or giou");
  det->add_option("--augment", c->augment, "augmentation strength (0 = none)");
  det->add_option("--seed", c->seed, "random seed");
  det->add_option("--device", c->device, "cpu, cuda or auto");
  det->add_flag("--resume", c->resume, "continue the run in --out from its last checkpoint");
  det->add_option("--max-steps", c->max_steps, "stop after this many steps (0 = no limit)");
  det->add_option("--width-divisor", c->width_divisor, "divide ResNet widths (smaller nets for tests)");
  det->add_option("--fpn-channels", c->fpn_channels, "FPN and head width");
  det->add_option("--head-convs", c->head_convs, "convolutions per head tower");
  det->callback([&run, c] {
    run = [c] {
      const auto r = detect::train_detector(*c);
      std::cout << "epochs " << r.epochs_done << ", loss " << r.first_loss << " -> " << r.last_loss
                << ", best inner-val mean IoU " << r.best_mean_iou << " (epoch " << r.best_epoch << ")\n";
      return r.interrupted ? 130 : kOk;
    };
  });
}

}  // namespace spinescan::cli
